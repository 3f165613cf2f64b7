package dkim

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"
	msgauth "github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const testMsg = "From: News <news@Example.com>\r\nTo: ann@example.org\r\nSubject: Spring sale\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\nHello  there,\r\nthe sale starts now.   \r\n\r\n\r\n"

// trickyMsg has what relaxed canonicalisation changes: folded and
// repeated headers, odd spacing around colons, tabs, whitespace-only
// lines, and a body that ends without a line break.
const trickyMsg = "Received: from a\r\n\tby b; Wed, 25 Nov 2026 10:00:00 +0000\r\nFrom:\tNews\r\n <news@example.com>\r\n" +
	"To: ann@example.org,\r\n\t bob@example.org\r\nSubject:  Spring   sale\t\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
	"Message-ID: <2@example.com>\r\nList-Unsubscribe: <https://t.example.com/u/x>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n  indented\t\ttabs \t here\r\n \t \r\n" +
	"12345678  12345678\r\nno line break at the end  "

func mustKey(t testing.TB, a Algorithm) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(a)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// mustTXT is the TXT record of a public key.
func mustTXT(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	txt, err := TXT(pub)
	if err != nil {
		t.Fatal(err)
	}
	return txt
}

func TestFromDomain(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   string
		err    error
	}{
		{"From: News <news@Example.COM>\r\n", "example.com", nil},
		{"From: a@b.example\r\n", "b.example", nil},
		{"To: x@y\r\n", "", ErrNoFrom},
		{"From: a@x.com\r\nFrom: b@y.com\r\n", "", ErrManyFrom},
		{"From: a@x.com, b@y.com\r\n", "", ErrManyAddresses},
		{"From: not an address\r\n", "", ErrBadFrom},
	} {
		h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(tc.header + "\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromDomain(h)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%q: %q %v; want %q %v", tc.header, got, err, tc.want, tc.err)
		}
	}
}

func TestSplitTXT(t *testing.T) {
	long := strings.Repeat("a", 600)
	parts := SplitTXT(long)
	if len(parts) != 3 || len(parts[0]) != 255 || len(parts[2]) != 90 || strings.Join(parts, "") != long {
		t.Fatalf("split: %d parts", len(parts))
	}
	if p := SplitTXT("short"); len(p) != 1 || p[0] != "short" {
		t.Fatalf("%v", p)
	}
}

// TestSignVerifyInProcess signs with RSA and Ed25519 and verifies with
// go-msgauth against the TXT records; an added header breaks it.
func TestSignVerifyInProcess(t *testing.T) {
	rsaKey, edKey := mustKey(t, RSA), mustKey(t, Ed25519)
	txts := map[string]string{}
	for sel, k := range map[string]crypto.Signer{"wm1": rsaKey, "wme1": edKey} {
		v, err := TXT(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		txts[sel+"._domainkey.example.com"] = v
	}
	var out bytes.Buffer
	if err := Sign(&out, strings.NewReader(testMsg), "example.com", []Key{{"wm1", rsaKey}, {"wme1", edKey}}); err != nil {
		t.Fatal(err)
	}
	signed := out.String()
	if strings.Count(signed, "DKIM-Signature:") != 2 || strings.Contains(signed, " l=") || !strings.Contains(signed, "c=relaxed/relaxed") {
		t.Fatalf("signature headers:\n%s", signed)
	}
	lookup := func(domain string) ([]string, error) {
		if v, ok := txts[domain]; ok {
			return []string{v}, nil // one record (its strings joined, as a resolver does)
		}
		return nil, fmt.Errorf("no TXT for %s", domain)
	}
	verify := func(msg string) []error {
		vs, err := msgauth.VerifyWithOptions(strings.NewReader(msg), &msgauth.VerifyOptions{LookupTXT: lookup})
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		for _, v := range vs {
			errs = append(errs, v.Err)
		}
		return errs
	}
	if errs := verify(signed); len(errs) != 2 || errs[0] != nil || errs[1] != nil {
		t.Fatalf("verify: %v", errs)
	}
	// Oversigned headers: adding one after signing fails both signatures.
	for _, extra := range []string{"Subject: Act now\r\n", "From: evil@example.net\r\n", "List-Unsubscribe: <https://evil.example/>\r\n"} {
		i := strings.Index(signed, "From:")
		tampered := signed[:i] + extra + signed[i:]
		for _, err := range verify(tampered) {
			if err == nil {
				t.Errorf("a signature still verifies with %q added", extra)
			}
		}
	}
}

// TestIndependentVerifiers: python3-dkim's dkimverify and OpenDKIM's
// opendkim-testmsg verify waymark's RSA and Ed25519 signatures, with the
// keys served by waymark's DNS and reached through Unbound by the
// customer's CNAMEs, as a receiving server reads them; a header added
// after signing, or a selector with no key, fails with each of them.
func TestIndependentVerifiers(t *testing.T) {
	rsaKey, edKey := mustKey(t, RSA), mustKey(t, Ed25519)
	u := servedKeys(t, map[string]crypto.Signer{"wm1": rsaKey, "wme1": edKey})
	rsa, ed := []Key{{"wm1", rsaKey}}, []Key{{"wme1", edKey}}
	for _, tc := range []struct {
		name string
		msg  string
		keys []Key
	}{
		{"RSA", testMsg, rsa},
		{"Ed25519", testMsg, ed},
		{"RSA and Ed25519", testMsg, []Key{rsa[0], ed[0]}},
		{"RSA, tricky message", trickyMsg, rsa},
		{"Ed25519, tricky message", trickyMsg, ed},
		{"Ed25519, LF line ends", strings.ReplaceAll(testMsg, "\r\n", "\n"), ed},
	} {
		signed := mustSign(t, tc.msg, tc.keys)
		verdicts := u.VerifyDKIM(t, signed)
		for name, err := range verdicts {
			if err != nil {
				t.Errorf("%s: refused: %v", tc.name, err)
			} else {
				t.Logf("%s: %s verifies", tc.name, name)
			}
		}
		for name, err := range u.VerifyDKIM(t, "Subject: Act now\r\n"+signed) {
			if err == nil {
				t.Errorf("%s: %s accepts a header added after signing", tc.name, name)
			}
		}
	}
	for name, err := range u.VerifyDKIM(t, mustSign(t, testMsg, []Key{{"wm2", rsaKey}})) {
		if err == nil {
			t.Errorf("%s accepts a signature whose key is not published: the check does not read DNS", name)
		}
	}
}

func mustSign(t *testing.T, msg string, keys []Key) string {
	t.Helper()
	var out bytes.Buffer
	if err := Sign(&out, strings.NewReader(msg), "example.com", keys); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// servedKeys publishes each selector's key on waymark's DNS under
// <selector>.sd1.dkim.waymark.localhost and returns a test Unbound in front
// of it where example.com's selectors are CNAMEs to them, as a customer
// sets them up; it also answers the system resolver (Unbound.Command).
func servedKeys(t *testing.T, keys map[string]crypto.Signer) *testenv.Unbound {
	t.Helper()
	var extra []dnsserver.Record
	var cnames []string
	for sel, k := range keys {
		v, err := TXT(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		target := sel + ".sd1.dkim.waymark.localhost"
		extra = append(extra, dnsserver.Record{Name: target,
			RR: &dns.TXT{Hdr: dns.RR_Header{Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: SplitTXT(v)}})
		cnames = append(cnames, sel+"._domainkey.example.com. 300 IN CNAME "+target+".")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := dnsserver.NewServer(dnsserver.Build(dnsserver.Config{Platform: "waymark.localhost", EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		1, nil, extra), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	addr, err := srv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := testenv.StartUnboundForLibc(t, "waymark.localhost", addr.String(), "example.com")
	u.Set(cnames...)
	return u
}
