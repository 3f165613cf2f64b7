package track

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// Kind is what a token's link does.
type Kind byte

const (
	// Click redirects to the token's URL.
	Click Kind = 'c'
	// Open is the pixel.
	Open Kind = 'o'
	// Unsubscribe is the unsubscribe link and List-Unsubscribe URL.
	Unsubscribe Kind = 'u'
	// Forward is the forward-to-a-friend link.
	Forward Kind = 'f'
	// Honeypot is the hidden link no person clicks.
	Honeypot Kind = 'h'
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case Click, Open, Unsubscribe, Forward, Honeypot:
		return true
	}
	return false
}

// version is the token layout version.
const version = 1

// macLen is the truncated HMAC length: 128 bits, beyond any forgery by trial.
const macLen = 16

// Limits keep a token a link, not a document.
const (
	maxMessage   = 128
	maxRecipient = 320 // RFC 5321: 64 + 1 + 255
	maxURL       = 4096
)

// Token is what a tracking link carries.
type Token struct {
	Kind  Kind
	KeyID uint32
	// Issued is when the link was minted (the message sent), to the second;
	// a click too soon after it is a scanner's.
	Issued    time.Time
	ClusterID string // cl_<16 hex>
	MessageID string
	Recipient string
	// URL is the destination of a Click; empty for other kinds.
	URL string
}

// Errors of Decode, all meaning "404": the edge does not say which.
var (
	ErrMalformed  = errors.New("track: malformed token")
	ErrUnknownKey = errors.New("track: unknown key")
	ErrForged     = errors.New("track: token does not authenticate")
)

var b64 = base64.RawURLEncoding

var errEmptyKey = errors.New("track: empty key")

// clusterBytes turns cl_<16 hex> into its 8 bytes.
func clusterBytes(id string) ([8]byte, error) {
	var out [8]byte
	hexPart, ok := strings.CutPrefix(id, "cl_")
	if !ok || len(hexPart) != 16 || strings.ToLower(hexPart) != hexPart {
		return out, fmt.Errorf("track: cluster id %q is not cl_<16 hex>", id)
	}
	if _, err := hex.Decode(out[:], []byte(hexPart)); err != nil {
		return out, fmt.Errorf("track: cluster id %q is not cl_<16 hex>", id)
	}
	return out, nil
}

// Encode makes the token string for t under key. A message's links are
// cheaper minted with one Encoder.
func Encode(t Token, key []byte) (string, error) {
	if len(key) == 0 {
		return "", errEmptyKey
	}
	e := Encoder{mac: hmac.New(sha256.New, key)}
	raw, err := e.sign(t)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(raw), nil
}

// Encoder makes tokens under one key, as Encode does, reusing its keyed
// HMAC and its buffer from one token to the next: appending a token to a
// buffer with room allocates nothing. It is not safe for concurrent use.
type Encoder struct {
	mac   hash.Hash // HMAC-SHA256 under the key
	dirty bool      // mac has been written to since it was reset
	raw   []byte    // the token being made, before base64
}

// NewEncoder returns an encoder of tokens under key.
func NewEncoder(key []byte) (*Encoder, error) {
	if len(key) == 0 {
		return nil, errEmptyKey
	}
	return &Encoder{mac: hmac.New(sha256.New, key)}, nil
}

// Append appends the token string for t to dst and returns the extended
// buffer; on error it returns dst as it was.
func (e *Encoder) Append(dst []byte, t Token) ([]byte, error) {
	raw, err := e.sign(t)
	if err != nil {
		return dst, err
	}
	return b64.AppendEncode(dst, raw), nil
}

// sign checks t and lays it out with its MAC in e's buffer, which it
// returns (valid until the next call).
func (e *Encoder) sign(t Token) ([]byte, error) {
	if !t.Kind.Valid() {
		return nil, fmt.Errorf("track: unknown kind %q", t.Kind)
	}
	cl, err := clusterBytes(t.ClusterID)
	if err != nil {
		return nil, err
	}
	switch {
	case len(t.MessageID) > maxMessage:
		return nil, fmt.Errorf("track: message id longer than %d bytes", maxMessage)
	case len(t.Recipient) > maxRecipient:
		return nil, fmt.Errorf("track: recipient longer than %d bytes", maxRecipient)
	case len(t.URL) > maxURL:
		return nil, fmt.Errorf("track: URL longer than %d bytes", maxURL)
	case t.Kind == Click && t.URL == "":
		return nil, errors.New("track: a click token needs a URL")
	case t.Kind != Click && t.URL != "":
		return nil, fmt.Errorf("track: only click tokens carry a URL, not %q", t.Kind)
	}
	// Room for the whole HMAC, which Sum appends before it is truncated.
	if n := 2 + binary.MaxVarintLen32 + binary.MaxVarintLen64 + 8 + 3*binary.MaxVarintLen16 +
		len(t.MessageID) + len(t.Recipient) + len(t.URL) + sha256.Size; cap(e.raw) < n {
		e.raw = make([]byte, 0, n)
	}
	raw := append(e.raw[:0], version, byte(t.Kind))
	raw = binary.AppendUvarint(raw, uint64(t.KeyID))
	raw = binary.AppendUvarint(raw, uint64(max(t.Issued.Unix(), 0)))
	raw = append(raw, cl[:]...)
	raw = appendString(raw, t.MessageID)
	raw = appendString(raw, t.Recipient)
	if t.Kind == Click {
		raw = appendString(raw, t.URL)
	}
	if e.dirty {
		e.mac.Reset() // restores the keyed state saved on the first reset
	}
	e.dirty = true
	e.mac.Write(raw)
	n := len(raw)
	raw = e.mac.Sum(raw)[:n+macLen]
	e.raw = raw
	return raw, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func mac(key, data []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h.Sum(nil)[:macLen]
}

// KeyFunc returns a cluster's key with the given id, or false.
type KeyFunc func(clusterID string, keyID uint32) ([]byte, bool)

// Decode parses and authenticates a token. Any change to any byte makes it
// fail; which check failed is in the error, for logs, never for clients.
func Decode(s string, keys KeyFunc) (Token, error) {
	if len(s) > b64.EncodedLen(2+binary.MaxVarintLen32+binary.MaxVarintLen64+8+3*binary.MaxVarintLen16+maxMessage+maxRecipient+maxURL+macLen) {
		return Token{}, ErrMalformed
	}
	raw, err := b64.DecodeString(s)
	if err != nil || len(raw) < 2+1+1+8+2+macLen || raw[0] != version {
		return Token{}, ErrMalformed
	}
	body, sum := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	t := Token{Kind: Kind(body[1])}
	if !t.Kind.Valid() {
		return Token{}, ErrMalformed
	}
	rest := body[2:]
	keyID, n := binary.Uvarint(rest)
	if n <= 0 || keyID > 1<<32-1 || len(rest[n:]) < 8 {
		return Token{}, ErrMalformed
	}
	t.KeyID = uint32(keyID)
	rest = rest[n:]
	issued, n := binary.Uvarint(rest)
	if n <= 0 || issued > 1<<40 || len(rest[n:]) < 8 {
		return Token{}, ErrMalformed
	}
	t.Issued = time.Unix(int64(issued), 0).UTC()
	rest = rest[n:]
	t.ClusterID = "cl_" + hex.EncodeToString(rest[:8])
	rest = rest[8:]
	var ok bool
	if t.MessageID, rest, ok = readString(rest, maxMessage); !ok {
		return Token{}, ErrMalformed
	}
	if t.Recipient, rest, ok = readString(rest, maxRecipient); !ok {
		return Token{}, ErrMalformed
	}
	if t.Kind == Click {
		if t.URL, rest, ok = readString(rest, maxURL); !ok || t.URL == "" {
			return Token{}, ErrMalformed
		}
	}
	if len(rest) != 0 {
		return Token{}, ErrMalformed
	}
	key, ok := keys(t.ClusterID, t.KeyID)
	if !ok {
		return Token{}, ErrUnknownKey
	}
	if !hmac.Equal(sum, mac(key, body)) {
		return Token{}, ErrForged
	}
	// Base64 has more than one spelling of some byte strings (unused low
	// bits of the last character): accept only the canonical one, so one
	// token has exactly one URL.
	if b64.EncodeToString(raw) != s {
		return Token{}, ErrMalformed
	}
	return t, nil
}

func readString(b []byte, limit int) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(limit) || uint64(len(b)-k) < n {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
