package track

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// FuzzDecode: no input panics, and whatever decodes re-encodes to exactly
// the same string (one token, one spelling), by Encode and by an Encoder
// reused from one input to the next; a version-1 token, which is no longer
// made, re-encodes to a version-2 token of the same fields.
func FuzzDecode(f *testing.F) {
	for _, tok := range []Token{
		{Kind: Click, KeyID: 2, Issued: time.Unix(1_800_000_000, 0), ClusterID: "cl_00000000000000aa", MessageID: "msg_1", Recipient: "ann@example.com", URL: "https://example.com/"},
		{Kind: Open, KeyID: 1, ClusterID: "cl_00000000000000bb", MessageID: "m", Recipient: "r"},
	} {
		key, _ := keys(tok.ClusterID, tok.KeyID)
		s, _ := Encode(tok, key)
		f.Add(s)
	}
	for _, g := range goldenV1 {
		f.Add(g.token)
	}
	encoders := map[*Key]*Encoder{}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Decode(s, keys)
		if err != nil {
			return
		}
		key, _ := keys(tok.ClusterID, tok.KeyID)
		again, err := Encode(tok, key)
		if err != nil {
			t.Fatalf("decoded %q to %+v, which does not encode: %v", s, tok, err)
		}
		if raw, _ := b64.DecodeString(s); raw[0] == version1 {
			if back, err := Decode(again, keys); err != nil || back != tok {
				t.Fatalf("version-1 %q: %+v re-encoded as %q, which decodes to %+v (%v)", s, tok, again, back, err)
			}
			return
		}
		if again != s {
			t.Fatalf("decoded %q to %+v, which encodes to %q", s, tok, again)
		}
		e := encoders[key]
		if e == nil {
			e, _ = NewEncoder(key)
			encoders[key] = e
		}
		if b, err := e.Append([]byte("x"), tok); err != nil || string(b) != "x"+s {
			t.Fatalf("decoded %q to %+v, which an encoder appends as %q (%v)", s, tok, b, err)
		}
	})
}

// FuzzAltered: changing any one byte of a valid token never yields a token
// that decodes, whatever the fields were, and no field of eight bytes or
// more can be read in the token's bytes.
func FuzzAltered(f *testing.F) {
	f.Add(byte(Click), "msg_1", "ann@example.com", "https://example.com/", uint(5), byte(1))
	f.Add(byte(Open), "", "", "", uint(0), byte(0x80))
	f.Fuzz(func(t *testing.T, kind byte, msg, rcpt, url string, pos uint, xor byte) {
		tok := Token{Kind: Kind(kind), Issued: time.Unix(int64(pos), 0), ClusterID: "cl_00000000000000aa", MessageID: msg, Recipient: rcpt}
		if tok.Kind == Click {
			tok.URL = url
		}
		s, err := Encode(tok, keyA)
		if err != nil {
			return
		}
		raw, _ := b64.DecodeString(s)
		for _, field := range []string{msg, rcpt, tok.URL} {
			if len(field) >= 8 && bytes.Contains(raw, []byte(field)) {
				t.Fatalf("%q can be read in the token of %+v", field, tok)
			}
		}
		if xor == 0 {
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

// FuzzRewriteHTML: for any document, every http(s) link the tokenizer sees
// in the input is, at the same position in the output, a tracking link whose
// token gives back exactly that destination; other links are unchanged; one
// honeypot link is added; nothing panics.
func FuzzRewriteHTML(f *testing.F) {
	for _, s := range []string{
		`<a href="https://x.example/a?b=1&amp;c">x</a></body>`,
		`<A HREF=http://y.example/ data-waymark=off><a href='mailto:x'><a href = " https://z.example/ ">`,
		`<a "href"=x href=https://w.example/><a href="x"href="https://v.example/">`,
		`<script><a href="https://s.example/"></script><a href="{{unsubscribe}}">`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		rw := testRewriter()
		var out strings.Builder
		if err := rw.HTML(&out, strings.NewReader(doc)); err != nil {
			return
		}
		before, after := hrefs(doc), hrefs(out.String())
		// Where markup appended to the input is still markup (the input does
		// not end inside a cut-off tag), the honeypot must be there.
		want := len(before)
		if len(hrefs(doc+`<a href="https://probe.example/">`)) == len(before)+1 {
			want++
		}
		if len(after) < want {
			t.Fatalf("anchors: %d in, %d out, want %d\nin  %q\nout %q", len(before), len(after), want, doc, out.String())
		}
		for i, h := range before {
			dest := strings.TrimSpace(h)
			switch {
			case strings.Contains(doc, "{{"):
				continue // placeholders change hrefs on purpose
			case h != "(off)" && isHTTP(dest) && !rw.isOurs(dest):
				m := linkRE.FindStringSubmatch(after[i])
				if m == nil || m[1] != "c" || after[i] != m[0] {
					t.Fatalf("link %d %q became %q\nout %q", i, h, after[i], out.String())
				}
				tok, err := Decode(m[2], keys)
				if err != nil || tok.URL != dest || tok.Kind != Click {
					t.Fatalf("link %d %q: token %+v %v", i, h, tok, err)
				}
			case after[i] != h:
				t.Fatalf("link %d %q changed to %q", i, h, after[i])
			}
		}
	})
}

// FuzzMessage: no input panics the MIME walk, a rewritten message still
// parses, and minting through Mint or an Encoder gives the same bytes.
func FuzzMessage(f *testing.F) {
	f.Add(fmt.Sprintf(newsletter, wrapBase64(`<a href="https://x.example/">x</a>`)))
	f.Add("Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<a href=3D\"https://x.example/\">x</a>=\r\n")
	f.Fuzz(func(t *testing.T, msg string) {
		var out strings.Builder
		if err := testRewriter().Message(&out, strings.NewReader(msg)); err != nil {
			return
		}
		var viaMint strings.Builder
		if err := mintRewriter().Message(&viaMint, strings.NewReader(msg)); err != nil || viaMint.String() != out.String() {
			t.Fatalf("Mint and Encoder disagree (%v)\nin      %q\nMint    %q\nEncoder %q", err, msg, viaMint.String(), out.String())
		}
		if _, err := message.Read(strings.NewReader(out.String())); err != nil && !message.IsUnknownCharset(err) {
			if _, inErr := message.Read(strings.NewReader(msg)); inErr == nil {
				t.Fatalf("input parses but output does not: %v\nin  %q\nout %q", err, msg, out.String())
			}
		}
	})
}
