package dkim

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/textproto"
	msgauth "github.com/emersion/go-msgauth/dkim"
)

// Algorithm names a key type.
type Algorithm string

const (
	// RSA is RSA-2048 with SHA-256 (RFC 6376 section 3.3.1; never SHA-1).
	RSA Algorithm = "rsa"
	// Ed25519 is Ed25519-SHA256 (RFC 8463).
	Ed25519 Algorithm = "ed25519"
)

// Selectors are the two selectors each algorithm alternates between.
func (a Algorithm) Selectors() [2]string {
	if a == Ed25519 {
		return [2]string{"wme1", "wme2"}
	}
	return [2]string{"wm1", "wm2"}
}

// RSABits is the RSA key size.
const RSABits = 2048

// GenerateKey makes a new private key of the algorithm.
func GenerateKey(a Algorithm) (crypto.Signer, error) {
	switch a {
	case RSA:
		return rsa.GenerateKey(rand.Reader, RSABits)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("dkim: unknown algorithm %q", a)
}

// TXT returns the DNS TXT record of a public key (RFC 6376 section 3.6.1;
// RFC 8463 section 4 for Ed25519: the raw 32-byte key).
func TXT(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key %T", pub)
}

// SplitTXT cuts a TXT value into character-strings of at most 255 bytes
// (RFC 1035 section 3.3.14); a verifier joins them back.
func SplitTXT(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// Errors of FromDomain, for a specific refusal.
var (
	ErrNoFrom        = errors.New("dkim: the message has no From header")
	ErrManyFrom      = errors.New("dkim: the message has more than one From header")
	ErrManyAddresses = errors.New("dkim: the From header has more than one address")
	ErrBadFrom       = errors.New("dkim: the From header is not a valid address")
)

// FromDomain returns the domain of the message's RFC 5322.From address,
// lower case. DMARC aligns on this domain, so it is the one that signs
// (RFC 7489 section 3.1); exactly one From with one address is required.
func FromDomain(h textproto.Header) (string, error) {
	froms := h.Values("From")
	switch {
	case len(froms) == 0:
		return "", ErrNoFrom
	case len(froms) > 1:
		return "", ErrManyFrom
	}
	addrs, err := mail.ParseAddressList(froms[0])
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadFrom, err)
	}
	if len(addrs) != 1 {
		return "", ErrManyAddresses
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", ErrBadFrom
	}
	return strings.ToLower(strings.TrimSuffix(addrs[0].Address[at+1:], ".")), nil
}

// signedHeaders are signed, and oversigned: each is listed once more than
// the message has it, so an added copy breaks the signature (RFC 6376
// section 8.15).
var signedHeaders = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post"}

// oversigned are the headers the SPEC names for oversigning.
var oversigned = map[string]bool{"from": true, "to": true, "subject": true, "date": true, "message-id": true,
	"list-unsubscribe": true, "list-unsubscribe-post": true}

// Key is one signing key and the selector it is published under.
type Key struct {
	Selector string
	Signer   crypto.Signer
}

// Sign adds one DKIM-Signature per key (relaxed/relaxed, SHA-256, no l=)
// for domain to the message from r and writes it to w. It signs whatever
// it is given: the caller checks the From domain with FromDomain first.
func Sign(w io.Writer, r io.Reader, domain string, keys []Key) error {
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
	if err != nil {
		return fmt.Errorf("dkim: message header: %w", err)
	}
	var headerKeys []string
	for _, k := range signedHeaders {
		n := len(h.Values(k))
		if oversigned[strings.ToLower(k)] {
			n++ // one more than present: signs its absence too
		}
		for range n {
			headerKeys = append(headerKeys, k)
		}
	}
	for _, k := range keys {
		var out bytes.Buffer
		out.Grow(len(msg) + 1024) // the message and one DKIM-Signature
		if err := msgauth.Sign(&out, bytes.NewReader(msg), &msgauth.SignOptions{
			Domain: domain, Selector: k.Selector, Signer: k.Signer, Hash: crypto.SHA256,
			HeaderCanonicalization: msgauth.CanonicalizationRelaxed, BodyCanonicalization: msgauth.CanonicalizationRelaxed,
			HeaderKeys: headerKeys,
		}); err != nil {
			return fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
		}
		msg = out.Bytes()
	}
	_, err = w.Write(msg)
	return err
}
