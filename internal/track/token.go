package track

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
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
	// View is the view-in-browser link: the recipient's copy as a page.
	View Kind = 'v'
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case Click, Open, Unsubscribe, Forward, Honeypot, View:
		return true
	}
	return false
}

// The token layouts, told apart by their first byte (docs/CONCEPTS.md#tracking-links).
const (
	// version1 carried its fields in the clear, authenticated by an HMAC.
	// No token of it is made any more; those in mail already delivered
	// still decode.
	version1 = 1
	// version2 encrypts its fields: only the cluster and the key id are
	// in the clear.
	version2 = 2
)

// sivLen is the synthetic IV of version 2, which is also its MAC, and the
// truncated HMAC of version 1: 128 bits, beyond any forgery by trial.
const sivLen = 16

// Limits keep a token a link, not a document.
const (
	maxMessage   = 128
	maxRecipient = 320 // RFC 5321: 64 + 1 + 255
	maxURL       = 4096
)

// maxRaw is the longest token before base64, in either layout: two bytes
// (version, kind), key id, issued, cluster, three lengths, the fields and
// the MAC.
const maxRaw = 2 + binary.MaxVarintLen32 + binary.MaxVarintLen64 + 8 + 3*binary.MaxVarintLen16 +
	maxMessage + maxRecipient + maxURL + sivLen

// Token is what a tracking link carries.
type Token struct {
	Kind Kind
	// KeyID is the id of the key the token was made under, as Decode
	// found it; encoding writes the id of the key it is given.
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

// b64strict is b64 refusing non-zero unused bits in the last character.
var b64strict = b64.Strict()

// Key is one of a cluster's token keys, ready for use: its secret, which
// is the HMAC key of version-1 tokens, and the two keys of version 2
// derived from it with HKDF-SHA256 (RFC 5869), one for the synthetic IV
// and one for AES-256. A Key is safe for concurrent use.
type Key struct {
	ID     uint32
	secret []byte
	siv    []byte       // the HMAC-SHA256 key of version 2's synthetic IV
	block  cipher.Block // AES-256 under the derived encryption key
	// states holds keyed HMACs and scratch space for Decode, so a click
	// does not build a new HMAC.
	states sync.Pool
}

// HKDF info strings: a new layout derives new keys.
const (
	infoSIV = "waymark token v2 siv"
	infoEnc = "waymark token v2 aes-256-ctr"
)

// NewKey prepares a cluster's key with the given id and secret.
func NewKey(id uint32, secret []byte) (*Key, error) {
	if len(secret) == 0 {
		return nil, errors.New("track: empty key")
	}
	siv, err := hkdf.Key(sha256.New, secret, nil, infoSIV, 32)
	if err != nil {
		return nil, err
	}
	enc, err := hkdf.Key(sha256.New, secret, nil, infoEnc, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	return &Key{ID: id, secret: append([]byte(nil), secret...), siv: siv, block: block}, nil
}

// state is what one encoding or decoding needs besides the key.
type state struct {
	mac     hash.Hash // HMAC-SHA256 under the key's siv key
	dirty   bool      // mac has been written to since it was reset
	ctr, ks [aes.BlockSize]byte
	pt      []byte // the plaintext fields
	raw     []byte // the token before base64
	sum     [sha256.Size]byte
}

func (k *Key) state() *state {
	if s, ok := k.states.Get().(*state); ok {
		return s
	}
	return &state{mac: hmac.New(sha256.New, k.siv)}
}

// sivOf returns the synthetic IV of a version-2 token: the first 16 bytes
// of HMAC-SHA256 over its clear header and its plaintext.
func (s *state) sivOf(header, pt []byte) []byte {
	if s.dirty {
		s.mac.Reset() // restores the keyed state saved on the first reset
	}
	s.dirty = true
	s.mac.Write(header)
	s.mac.Write(pt)
	return s.mac.Sum(s.sum[:0])[:sivLen]
}

// xorCTR writes src XOR the AES-CTR keystream that starts at iv to dst,
// the counter being the whole block, big-endian (NIST SP 800-38A §6.5;
// the same stream as crypto/cipher.NewCTR). It is written here, on the
// block cipher, because cipher.NewCTR allocates a stream for every IV and
// a token has a new IV each time.
func (s *state) xorCTR(b cipher.Block, iv, dst, src []byte) {
	copy(s.ctr[:], iv)
	for len(src) > 0 {
		b.Encrypt(s.ks[:], s.ctr[:])
		n := subtle.XORBytes(dst, src, s.ks[:])
		dst, src = dst[n:], src[n:]
		for i := len(s.ctr) - 1; i >= 0; i-- {
			s.ctr[i]++
			if s.ctr[i] != 0 {
				break
			}
		}
	}
}

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
func Encode(t Token, key *Key) (string, error) {
	e, err := NewEncoder(key)
	if err != nil {
		return "", err
	}
	raw, err := e.seal(t)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(raw), nil
}

// Encoder makes tokens under one key, as Encode does, reusing its keyed
// HMAC and its buffers from one token to the next: appending a token to a
// buffer with room allocates nothing. It is not safe for concurrent use.
type Encoder struct {
	key *Key
	s   state
}

// NewEncoder returns an encoder of tokens under key.
func NewEncoder(key *Key) (*Encoder, error) {
	if key == nil {
		return nil, errors.New("track: no key")
	}
	return &Encoder{key: key, s: state{mac: hmac.New(sha256.New, key.siv)}}, nil
}

// Append appends the token string for t to dst and returns the extended
// buffer; on error it returns dst as it was.
func (e *Encoder) Append(dst []byte, t Token) ([]byte, error) {
	raw, err := e.seal(t)
	if err != nil {
		return dst, err
	}
	return b64.AppendEncode(dst, raw), nil
}

// seal checks t and lays it out as a version-2 token in e's buffer, which
// it returns (valid until the next call):
//
//	version | cluster | key id | siv | AES-256-CTR(siv, plaintext)
//	plaintext = kind | issued | message | recipient | url
//	siv = HMAC-SHA256(siv key, version | cluster | key id | plaintext)[:16]
//
// This is the SIV construction (RFC 5297 §1.3.3, with HMAC for its PRF):
// the IV is a MAC of the plaintext, so the token needs no random nonce,
// is the same length as a version-1 token, one token has one spelling,
// and any change to any byte fails authentication.
func (e *Encoder) seal(t Token) ([]byte, error) {
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
	s := &e.s
	if need := 1 + binary.MaxVarintLen64 + 3*binary.MaxVarintLen16 + len(t.MessageID) + len(t.Recipient) + len(t.URL); cap(s.pt) < need {
		s.pt = make([]byte, 0, need)
		s.raw = make([]byte, 0, 1+8+binary.MaxVarintLen32+sivLen+need)
	}
	pt := append(s.pt[:0], byte(t.Kind))
	pt = binary.AppendUvarint(pt, uint64(max(t.Issued.Unix(), 0)))
	pt = appendString(pt, t.MessageID)
	pt = appendString(pt, t.Recipient)
	if t.Kind == Click {
		pt = appendString(pt, t.URL)
	}
	s.pt = pt
	raw := append(s.raw[:0], version2)
	raw = append(raw, cl[:]...)
	raw = binary.AppendUvarint(raw, uint64(e.key.ID))
	siv := s.sivOf(raw, pt)
	raw = append(raw, siv...)
	n := len(raw)
	raw = raw[:n+len(pt)]
	s.xorCTR(e.key.block, siv, raw[n:], pt)
	s.raw = raw
	return raw, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// KeyFunc returns a cluster's key with the given id, or false.
type KeyFunc func(clusterID string, keyID uint32) (*Key, bool)

// Decode parses and authenticates a token of either layout. Any change to
// any byte makes it fail; which check failed is in the error, for logs,
// never for clients.
func Decode(s string, keys KeyFunc) (Token, error) {
	if len(s) > b64.EncodedLen(maxRaw) || len(s) < 2 {
		return Token{}, ErrMalformed
	}
	// The decoder skips CR and LF, which no token has; Strict refuses the
	// other spellings of a byte string (unused low bits of the last
	// character set), so one token has exactly one URL.
	if strings.ContainsAny(s, "\r\n") {
		return Token{}, ErrMalformed
	}
	raw, err := b64strict.DecodeString(s)
	if err != nil || len(raw) == 0 {
		return Token{}, ErrMalformed
	}
	var t Token
	switch raw[0] {
	case version1:
		t, err = decode1(raw, keys)
	case version2:
		t, err = decode2(raw, keys)
	default:
		return Token{}, ErrMalformed
	}
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

// decode2 opens a version-2 token (see Encoder.seal).
func decode2(raw []byte, keys KeyFunc) (Token, error) {
	// version, cluster, key id, siv, and at least kind, issued and two
	// empty lengths.
	if len(raw) < 1+8+1+sivLen+4 {
		return Token{}, ErrMalformed
	}
	var t Token
	t.ClusterID = "cl_" + hex.EncodeToString(raw[1:9])
	keyID, n := binary.Uvarint(raw[9:])
	if n <= 0 || keyID > 1<<32-1 || len(raw[9+n:]) < sivLen+4 {
		return Token{}, ErrMalformed
	}
	t.KeyID = uint32(keyID)
	header := raw[:9+n]
	siv, ct := raw[9+n:9+n+sivLen], raw[9+n+sivLen:]
	key, ok := keys(t.ClusterID, t.KeyID)
	if !ok {
		return Token{}, ErrUnknownKey
	}
	st := key.state()
	defer key.states.Put(st)
	if cap(st.pt) < len(ct) {
		st.pt = make([]byte, 0, max(len(ct), 256))
	}
	pt := st.pt[:len(ct)]
	st.xorCTR(key.block, siv, pt, ct)
	if !hmac.Equal(siv, st.sivOf(header, pt)) {
		return Token{}, ErrForged
	}
	t.Kind = Kind(pt[0])
	if !t.Kind.Valid() {
		return Token{}, ErrMalformed
	}
	issued, n := binary.Uvarint(pt[1:])
	if n <= 0 || issued > 1<<40 || !readStrings(&t, pt[1+n:]) {
		return Token{}, ErrMalformed
	}
	t.Issued = time.Unix(int64(issued), 0).UTC()
	return t, nil
}

// decode1 checks a version-1 token:
//
//	version | kind | key id | issued | cluster | message | recipient | url | mac
//
// mac being the first 16 bytes of HMAC-SHA256(key, everything before it).
func decode1(raw []byte, keys KeyFunc) (Token, error) {
	if len(raw) < 2+1+1+8+2+sivLen {
		return Token{}, ErrMalformed
	}
	body, sum := raw[:len(raw)-sivLen], raw[len(raw)-sivLen:]
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
	if !readStrings(&t, rest) {
		return Token{}, ErrMalformed
	}
	key, ok := keys(t.ClusterID, t.KeyID)
	if !ok {
		return Token{}, ErrUnknownKey
	}
	h := hmac.New(sha256.New, key.secret)
	h.Write(body)
	if !hmac.Equal(sum, h.Sum(nil)[:sivLen]) {
		return Token{}, ErrForged
	}
	return t, nil
}

// readStrings reads message, recipient and (for a click) the URL into t,
// which must be all of b.
func readStrings(t *Token, b []byte) bool {
	var ok bool
	if t.MessageID, b, ok = readString(b, maxMessage); !ok {
		return false
	}
	if t.Recipient, b, ok = readString(b, maxRecipient); !ok {
		return false
	}
	if t.Kind == Click {
		if t.URL, b, ok = readString(b, maxURL); !ok || t.URL == "" {
			return false
		}
	}
	return len(b) == 0
}

func readString(b []byte, limit int) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(limit) || uint64(len(b)-k) < n {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
