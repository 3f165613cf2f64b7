package dkim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
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
	addr, err := FromAddress(h)
	if err != nil {
		return "", err
	}
	return strings.ToLower(strings.TrimSuffix(addr[strings.LastIndexByte(addr, '@')+1:], ".")), nil
}

// FromAddress returns the message's one RFC 5322.From address, as
// written.
func FromAddress(h textproto.Header) (string, error) {
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
	if strings.LastIndexByte(addrs[0].Address, '@') < 0 {
		return "", ErrBadFrom
	}
	return addrs[0].Address, nil
}

// signedHeaders are signed, and oversigned: each is listed once more than
// the message has it, so an added copy breaks the signature (RFC 6376
// section 8.15).
var signedHeaders = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post"}

// oversigned are the headers docs/CONCEPTS.md#dkim-signing oversigns. A header
// that is absent is signed as absent too, except those a mail server on
// the way may add to a message without them (To: undisclosed-recipients,
// Date, Message-ID): signing their absence would break the signature
// there. waymark adds Date and Message-ID itself before signing.
var oversigned = map[string]bool{"From": true, "To": true, "Subject": true, "Date": true, "Message-ID": true,
	"List-Unsubscribe": true, "List-Unsubscribe-Post": true}

// addedOnTheWay are the oversigned headers an MTA may add when missing.
var addedOnTheWay = map[string]bool{"To": true, "Date": true, "Message-ID": true}

// Key is one signing key and the selector it is published under.
type Key struct {
	Selector string
	Signer   crypto.Signer
}

// Sign adds one DKIM-Signature per key (relaxed/relaxed, SHA-256, no l=)
// for domain to the message from r and writes it to w. It signs whatever
// it is given: the caller checks the From domain with FromDomain first.
// The body is hashed once for all keys.
func Sign(w io.Writer, r io.Reader, domain string, keys []Key) error {
	var msg bytes.Buffer
	if l, ok := r.(interface{ Len() int }); ok {
		msg.Grow(l.Len() + bytes.MinRead) // one allocation for a bytes or strings reader
	}
	if _, err := msg.ReadFrom(r); err != nil {
		return err
	}
	return SignBytes(w, msg.Bytes(), domain, keys)
}

// SignBytes is Sign for a message already in memory, which it does not
// copy (nor change).
func SignBytes(w io.Writer, msg []byte, domain string, keys []Key) error {
	eol := "\r\n"
	if i := bytes.IndexByte(msg, '\n'); i >= 0 && (i == 0 || msg[i-1] != '\r') {
		eol = "\n" // a Unix file: the fields added keep its line ends
	}
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		// SMTP ends the data with a line break: the signed message is the
		// one sent. Verifiers disagree on whitespace before a missing
		// final CRLF; with the CRLF written they all read the same body.
		msg = append(msg[:len(msg):len(msg)], eol...) // a copy: the caller's bytes stay
	}
	sigs, err := Signatures(msg, domain, keys)
	if err != nil {
		return err
	}
	if eol == "\n" {
		sigs = strings.ReplaceAll(sigs, "\r\n", "\n")
	}
	if _, err := io.WriteString(w, sigs); err != nil {
		return err
	}
	_, err = w.Write(msg)
	return err
}

// Signatures returns the DKIM-Signature fields, one per key, to put in
// front of msg; the body is hashed once for all keys. msg ends with a line
// break, as SMTP sends it (Sign adds one if it is missing).
func Signatures(msg []byte, domain string, keys []Key) (string, error) {
	fields, body := splitMessage(msg)
	bh := relaxedBodyHash(body)

	// RFC 6376 section 5.4.2: each name in h= takes the next instance from
	// the bottom; a name listed more often than present signs its absence.
	names := make([]string, 0, 2*len(signedHeaders))
	signed := make([]byte, 0, 1024)
	from := 0
	for _, k := range signedHeaders {
		present := 0
		for i := len(fields) - 1; i >= 0; i-- {
			if fieldIs(fields[i], k) {
				signed = appendRelaxedHeader(signed, fields[i])
				names = append(names, k)
				present++
			}
		}
		if k == "From" {
			from = present
		}
		if oversigned[k] && (present > 0 || !addedOnTheWay[k]) {
			names = append(names, k)
		}
	}
	if from == 0 {
		return "", ErrNoFrom
	}

	now := strconv.FormatInt(timeNow().Unix(), 10)
	var sigs strings.Builder
	for i := len(keys) - 1; i >= 0; i-- { // the last key's signature on top, as a chain of signers writes it
		sig, err := signature(keys[i], domain, now, names, bh[:], signed)
		if err != nil {
			return "", err
		}
		sigs.WriteString(sig)
	}
	return sigs.String(), nil
}

var timeNow = time.Now // replaced in tests

// signature returns the DKIM-Signature field of one key, CRLF included.
func signature(k Key, domain, now string, names []string, bh, signed []byte) (string, error) {
	var alg string
	hash := crypto.SHA256
	switch k.Signer.Public().(type) {
	case *rsa.PublicKey:
		alg = "rsa-sha256"
	case ed25519.PublicKey:
		alg, hash = "ed25519-sha256", 0 // RFC 8463: Ed25519 signs the SHA-256 digest itself
	default:
		return "", fmt.Errorf("dkim: unsupported key %T for %s", k.Signer.Public(), k.Selector)
	}
	var f strings.Builder
	f.WriteString("DKIM-Signature: v=1; a=" + alg + "; c=relaxed/relaxed; d=" + domain + "; s=" + k.Selector + ";\r\n\tt=" + now + "; h=")
	line := len("\tt=") + len(now) + len("; h=")
	for i, n := range names {
		if i > 0 {
			if line+1+len(n) > 76 {
				f.WriteString("\r\n\t") // FWS before the colon (RFC 6376 section 3.5, h=)
				line = 1
			}
			f.WriteByte(':')
			line++
		}
		f.WriteString(n)
		line += len(n)
	}
	f.WriteString(";\r\n\tbh=" + base64.StdEncoding.EncodeToString(bh) + ";\r\n\tb=")

	// The signed data: the chosen fields, then this field with an empty b=
	// and no final CRLF (RFC 6376 section 3.7).
	h := sha256.New()
	h.Write(signed)
	sf := appendRelaxedHeader(nil, []byte(f.String()))
	h.Write(sf[:len(sf)-2])
	sig, err := k.Signer.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return "", fmt.Errorf("dkim: sign with %s: %w", k.Selector, err)
	}
	b := base64.StdEncoding.EncodeToString(sig)
	for len(b) > 72 {
		f.WriteString(b[:72] + "\r\n\t")
		b = b[72:]
	}
	f.WriteString(b + "\r\n")
	return f.String(), nil
}

// splitMessage cuts the header into raw fields (each with its folded
// lines and line breaks) and returns the body after the empty line.
func splitMessage(msg []byte) (fields [][]byte, body []byte) {
	rest := msg
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			end = len(rest) - 1
		}
		line := rest[:end+1]
		if len(trimEOL(line)) == 0 {
			return fields, rest[end+1:]
		}
		if isWSP(line[0]) && len(fields) > 0 {
			last := fields[len(fields)-1]
			fields[len(fields)-1] = last[:len(last)+len(line)] // contiguous in msg
		} else {
			fields = append(fields, line)
		}
		rest = rest[end+1:]
	}
	return fields, nil
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// fieldIs reports whether the raw field's name is name, in any case.
func fieldIs(field []byte, name string) bool {
	if len(field) < len(name) || !strings.EqualFold(string(field[:len(name)]), name) {
		return false // the conversion does not allocate: EqualFold only reads it
	}
	rest := field[len(name):]
	for len(rest) > 0 && isWSP(rest[0]) {
		rest = rest[1:]
	}
	return len(rest) > 0 && rest[0] == ':'
}
