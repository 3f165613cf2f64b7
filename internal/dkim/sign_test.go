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
	"os/exec"
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

// TestIndependentVerifier: python3-dkim verifies waymark's signatures, with
// the keys served by waymark's DNS and reached through Unbound by the
// customer's CNAMEs, for RSA and Ed25519; a header added after signing
// fails.
func TestIndependentVerifier(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import dkim, dns.resolver, nacl").Run(); err != nil {
		testenv.Missing(t, "python3-dkim with dnspython and nacl (apt python3-dkim python3-dnspython python3-nacl)", err)
	}
	rsaKey, edKey := mustKey(t, RSA), mustKey(t, Ed25519)
	u := servedKeys(t, map[string]crypto.Signer{"wm1": rsaKey, "wme1": edKey}, false)
	port := u.Addr[strings.LastIndexByte(u.Addr, ':')+1:]
	run := func(msg string) (string, error) {
		cmd := exec.Command(py, "testdata/dkimpy_verify.py", port)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for i, keys := range [][]Key{{{"wm1", rsaKey}}, {{"wme1", edKey}}, {{"wm1", rsaKey}, {"wme1", edKey}}} {
		if res, err := run(mustSign(t, trickyMsg, keys)); err != nil {
			t.Fatalf("python3-dkim rejects the tricky message signed by %s: %v\n%s", keys[0].Selector, err, res)
		}
		msg := testMsg
		if i == 1 {
			msg = strings.ReplaceAll(testMsg, "\r\n", "\n") // a Unix file: LF line ends
		}
		var out bytes.Buffer
		if err := Sign(&out, strings.NewReader(msg), "example.com", keys); err != nil {
			t.Fatal(err)
		}
		if res, err := run(out.String()); err != nil {
			t.Fatalf("python3-dkim rejects %d signature(s) by %s: %v\n%s", len(keys), keys[0].Selector, err, res)
		}
		tampered := "Subject: Act now\r\n" + out.String()
		if res, err := run(tampered); err == nil {
			t.Fatalf("python3-dkim accepts a message with a header added after signing:\n%s", res)
		}
	}
}

// TestOpenDKIMVerifies: OpenDKIM's opendkim-testmsg, which resolves keys
// with the C library's resolver, verifies waymark's RSA and Ed25519
// signatures; it runs in a mount namespace whose /etc/resolv.conf names
// the test Unbound.
func TestOpenDKIMVerifies(t *testing.T) {
	testmsg, err := exec.LookPath("opendkim-testmsg")
	if err != nil {
		if testmsg, err = exec.LookPath("/usr/sbin/opendkim-testmsg"); err != nil {
			testenv.Missing(t, "opendkim-testmsg (apt opendkim-tools)", err)
		}
	}
	if err := exec.Command("unshare", "-m", "true").Run(); err != nil {
		testenv.Missing(t, "unshare -m (a mount namespace, as root)", err)
	}
	rsaKey, edKey := mustKey(t, RSA), mustKey(t, Ed25519)
	u := servedKeys(t, map[string]crypto.Signer{"wm1": rsaKey, "wme1": edKey}, true)
	run := func(msg string) (string, error) {
		cmd := exec.Command("unshare", "-m", "sh", "-c", `mount --bind "$1" /etc/resolv.conf && exec "$2"`, "sh", u.ResolvConf(), testmsg)
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, keys := range [][]Key{{{"wm1", rsaKey}}, {{"wme1", edKey}}} {
		if res, err := run(mustSign(t, trickyMsg, keys)); err != nil {
			t.Fatalf("OpenDKIM rejects the tricky message signed by %s: %v\n%s", keys[0].Selector, err, res)
		}
		var out bytes.Buffer
		if err := Sign(&out, strings.NewReader(testMsg), "example.com", keys); err != nil {
			t.Fatal(err)
		}
		if res, err := run(out.String()); err != nil {
			t.Fatalf("OpenDKIM rejects the %s signature: %v\n%s", keys[0].Selector, err, res)
		}
		if res, err := run("Subject: Act now\r\n" + out.String()); err == nil {
			t.Fatalf("OpenDKIM accepts a header added after signing (%s):\n%s", keys[0].Selector, res)
		}
	}
	// A selector with no key in DNS fails: the check really reads DNS.
	var out bytes.Buffer
	Sign(&out, strings.NewReader(testMsg), "example.com", []Key{{"wm2", rsaKey}})
	if res, err := run(out.String()); err == nil {
		t.Fatalf("OpenDKIM accepts a signature whose key is not published:\n%s", res)
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
// sets them up. With libc, Unbound also answers the C library's resolver.
func servedKeys(t *testing.T, keys map[string]crypto.Signer, libc bool) *testenv.Unbound {
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
	var u *testenv.Unbound
	if libc {
		u = testenv.StartUnboundForLibc(t, "waymark.localhost", addr.String(), "example.com")
	} else {
		u = testenv.StartUnbound(t, "waymark.localhost", addr.String(), "example.com")
	}
	u.Set(cnames...)
	return u
}
