package dkim

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

func TestRelaxedBody(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"}, // RFC 6376 section 3.4.5
		{"", ""},
		{"\r\n\r\n", ""},
		{" \t \r\n\t\r\n", ""},
		{"text", "text\r\n"},
		{"text  \t", "text\r\n"},
		{"a\nb\n\n", "a\r\nb\r\n"},
		{"a\r\n \r\nb", "a\r\n\r\nb\r\n"},
		{"a\tb  c   d e\r\n", "a b c d e\r\n"},
		{"12345678  12345678\t12345678 \t", "12345678 12345678 12345678\r\n"},
		{"1234567 \t8 a", "1234567 8 a\r\n"},
		{"1234567  ", "1234567\r\n"},
		{"a\rb \r\n", "a\rb\r\n"}, // a lone CR is text
		{strings.Repeat("x", 40000) + "  y\r\n\r\n" + strings.Repeat("z ", 30000) + "\r\n",
			strings.Repeat("x", 40000) + " y\r\n\r\n" + strings.Repeat("z ", 29999) + "z\r\n"},
	} {
		if got, want := relaxedBodyHash([]byte(tc.in)), sha256.Sum256([]byte(tc.want)); got != want {
			t.Errorf("%.40q: hash is not that of %.40q", tc.in, tc.want)
		}
	}
}

func TestRelaxedHeader(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A: X\r\n", "a:X\r\n"}, // RFC 6376 section 3.4.5
		{"B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"},
		{"Subject:\r\n", "subject:\r\n"},
		{"X-Odd:  lots \t of   space  \n", "x-odd:lots of space\r\n"},
	} {
		if got := string(appendRelaxedHeader(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

var bhTag = regexp.MustCompile(`bh=([A-Za-z0-9+/=]+)`)

// FuzzRelaxedBody compares the body hash with go-msgauth's, a separate
// implementation, on any body whose CRs all end lines (go-msgauth treats
// a lone CR as a line break, python3-dkim and this package as text), and
// the collapsing with a plain byte-by-byte one.
func FuzzRelaxedBody(f *testing.F) {
	for _, s := range []string{"", " C \r\nD \t E\r\n\r\n\r\n", "a\nb", "12345678  x\t\ty", strings.Repeat("ab  ", 40)} {
		f.Add(s)
	}
	key := mustKey(f, Ed25519)
	f.Fuzz(func(t *testing.T, body string) {
		if strings.Count(body, "\r") != strings.Count(body, "\r\n") {
			t.Skip()
		}
		var out bytes.Buffer
		err := msgauth.Sign(&out, strings.NewReader("From: a@example.com\r\n\r\n"+body), &msgauth.SignOptions{
			Domain: "example.com", Selector: "s", Signer: key, BodyCanonicalization: msgauth.CanonicalizationRelaxed})
		if err != nil {
			t.Fatal(err)
		}
		m := bhTag.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no bh= in go-msgauth's signature:\n%s", out.String())
		}
		want, err := base64.StdEncoding.DecodeString(m[1])
		if err != nil {
			t.Fatal(err)
		}
		if got := relaxedBodyHash([]byte(body)); !bytes.Equal(got[:], want) {
			t.Fatalf("body hash differs from go-msgauth's for %q", body)
		}
		line := []byte(strings.TrimRight(strings.NewReplacer("\r", "", "\n", "").Replace(body), " \t"))
		if got, want := appendCollapsed(nil, line), collapseBytewise(line); !bytes.Equal(got, want) {
			t.Fatalf("%q collapses to %q, want %q", line, got, want)
		}
	})
}

func collapseBytewise(s []byte) []byte {
	var out []byte
	space := false
	for _, c := range s {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, c)
	}
	if space {
		out = append(out, ' ')
	}
	return out
}

// FuzzSignVerify signs messages with any header values and body, and
// go-msgauth must verify them: the header canonicalisation and field
// choice agree with a separate implementation. Only inputs that are not
// messages to begin with are skipped (a bare CR or LF outside a fold or a
// CRLF, or a header go-msgauth cannot read before signing); whatever the
// signer writes from a message a verifier must read.
func FuzzSignVerify(f *testing.F) {
	f.Add("Spring  sale", "ann@example.org", "Hello  there\r\n\r\n")
	f.Add("folded\r\n\tsubject ", "a@b.example,\r\n c@d.example", "x")
	f.Add("", "\r\n ", "no final line break")
	key := mustKey(f, Ed25519)
	txt := mustTXT(f, key.Public())
	lookup := func(string) ([]string, error) { return []string{txt}, nil }
	f.Fuzz(func(t *testing.T, subject, to, body string) {
		for _, v := range []string{subject, to} {
			// RFC 5322 section 2.2: CR and LF in a field only as a fold
			if strings.ContainsAny(strings.ReplaceAll(strings.ReplaceAll(v, "\r\n ", ""), "\r\n\t", ""), "\r\n") {
				t.Skip()
			}
		}
		if strings.Count(body, "\r") != strings.Count(body, "\r\n") {
			t.Skip() // RFC 5322 section 2.3: CR only in CRLF (go-msgauth takes a lone CR for a line end)
		}
		msg := "From: a@example.com\r\nSubject:" + subject + "\r\nTo:" + to + "\r\n\r\n" + body
		if _, err := msgauth.VerifyWithOptions(strings.NewReader(msg), &msgauth.VerifyOptions{LookupTXT: lookup}); err != nil {
			t.Skip() // not a message go-msgauth reads before it is signed
		}
		var out bytes.Buffer
		if err := Sign(&out, strings.NewReader(msg), "example.com", []Key{{"s", key}}); err != nil {
			t.Fatal(err)
		}
		signed := out.String()
		vs, err := msgauth.VerifyWithOptions(strings.NewReader(signed), &msgauth.VerifyOptions{LookupTXT: lookup})
		if err != nil {
			t.Fatalf("go-msgauth cannot read what we signed from %q: %v\n%s", msg, err, signed)
		}
		if len(vs) != 1 || vs[0].Err != nil {
			t.Fatalf("go-msgauth rejects the signature of %q: %+v\n%s", msg, vs, signed)
		}
	})
}

// TestMissingHeadersAnMTAMayAdd: a message without To, Date or
// Message-ID still verifies after a server on the way adds them, while an
// added Subject or second From still breaks it.
func TestMissingHeadersAnMTAMayAdd(t *testing.T) {
	key := mustKey(t, Ed25519)
	txt := mustTXT(t, key.Public())
	lookup := func(string) ([]string, error) { return []string{txt}, nil }
	var out bytes.Buffer
	if err := Sign(&out, strings.NewReader("From: a@example.com\r\n\r\nhi\r\n"), "example.com", []Key{{"s", key}}); err != nil {
		t.Fatal(err)
	}
	for added, ok := range map[string]bool{
		"To: undisclosed-recipients:;\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <x@mta.example>\r\n": true,
		"Subject: Act now\r\n":       false,
		"From: evil@example.net\r\n": false,
	} {
		msg := out.String()
		i := strings.Index(msg, "\r\nFrom:") + 2
		vs, err := msgauth.VerifyWithOptions(strings.NewReader(msg[:i]+added+msg[i:]), &msgauth.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || (vs[0].Err == nil) != ok {
			t.Errorf("with %q added: %v %v; want verified %v\n%s", added, err, vs[0].Err, ok, msg[:i]+added+msg[i:])
		}
	}
}
