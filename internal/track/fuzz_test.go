package track

import (
	"testing"
)

// FuzzDecode: no input panics, and whatever decodes re-encodes to exactly
// the same string (one token, one spelling).
func FuzzDecode(f *testing.F) {
	for _, tok := range []Token{
		{Kind: Click, KeyID: 2, ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com", URL: "https://example.com/"},
		{Kind: Open, KeyID: 1, ClusterID: "cl_00000000000000bb", MessageID: "m", Recipient: "r"},
	} {
		key, _ := keys(tok.ClusterID, tok.KeyID)
		s, _ := Encode(tok, key)
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Decode(s, keys)
		if err != nil {
			return
		}
		key, _ := keys(tok.ClusterID, tok.KeyID)
		again, err := Encode(tok, key)
		if err != nil || again != s {
			t.Fatalf("decoded %q to %+v, which encodes to %q (%v)", s, tok, again, err)
		}
	})
}

// FuzzAltered: changing any one byte of a valid token never yields a token
// that decodes, whatever the fields were.
func FuzzAltered(f *testing.F) {
	f.Add(byte(Click), "msg_1", "ann@example.com", "https://example.com/", uint(5), byte(1))
	f.Add(byte(Open), "", "", "", uint(0), byte(0x80))
	f.Fuzz(func(t *testing.T, kind byte, msg, rcpt, url string, pos uint, xor byte) {
		tok := Token{Kind: Kind(kind), KeyID: 2, ClusterID: "cl_00000000000000aa", MessageID: msg, Recipient: rcpt}
		if tok.Kind == Click {
			tok.URL = url
		}
		s, err := Encode(tok, keyA)
		if err != nil || xor == 0 {
			return
		}
		b := []byte(s)
		i := int(pos % uint(len(b)))
		b[i] ^= xor
		if string(b) == s {
			return
		}
		if got, err := Decode(string(b), keys); err == nil {
			t.Fatalf("altered token %q (byte %d) decoded to %+v", b, i, got)
		}
	})
}
