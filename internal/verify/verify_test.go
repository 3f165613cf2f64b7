package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/testenv"
)

const (
	platform = "waymark.localhost"
	own      = "v-00000000000000aa.track.waymark.localhost"
	other    = "v-00000000000000bb.track.waymark.localhost"
	deleted  = "v-00000000000000cc.track.waymark.localhost"
)

// realDNS starts waymark's authoritative server with two live targets and
// Unbound in front of it, with the customer zone acme-mail.com.
func realDNS(t *testing.T) (*Verifier, *testenv.Unbound) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	zone := dnsserver.Build(dnsserver.Config{Platform: platform, EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
		1, []string{own, other}, nil)
	srv := dnsserver.NewServer(zone, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	addr, err := srv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := testenv.StartUnbound(t, platform, addr.String(), "acme-mail.com", "elsewhere.net")
	return &Verifier{Resolver: &DNSResolver{Addr: u.Addr}, Platform: platform}, u
}

func cname(from, to string) string { return fmt.Sprintf("%s. 300 IN CNAME %s.", from, to) }

// TestChainsThroughUnbound runs every diagnosis against real servers:
// Unbound resolving, waymark's DNS answering the platform zone.
func TestChainsThroughUnbound(t *testing.T) {
	v, u := realDNS(t)
	u.Set(
		cname("ok.acme-mail.com", own),
		cname("upper.acme-mail.com", strings.ToUpper(own)),
		cname("other.acme-mail.com", other),
		cname("gone.acme-mail.com", deleted),
		cname("h1.acme-mail.com", "h2.acme-mail.com"),
		cname("h2.acme-mail.com", "h3.acme-mail.com"),
		cname("h3.acme-mail.com", own),
		cname("loop1.acme-mail.com", "loop2.acme-mail.com"),
		cname("loop2.acme-mail.com", "loop1.acme-mail.com"),
		"proxied.acme-mail.com. 300 IN A 104.16.0.1",
		"proxied.acme-mail.com. 300 IN AAAA 2606:4700::1",
		"txt.acme-mail.com. 300 IN TXT \"hello\"",
		cname("away.acme-mail.com", "www.elsewhere.net"),
		"www.elsewhere.net. 300 IN A 198.51.100.7",
		cname("dangling.acme-mail.com", "nothing.elsewhere.net"),
		cname("platform.acme-mail.com", "t."+platform),
	)
	// Chains of exactly 8 and of 9 CNAMEs.
	for _, n := range []int{8, 9} {
		for i := 1; i < n; i++ {
			u.Set(cname(fmt.Sprintf("len%d-%d.acme-mail.com", n, i), fmt.Sprintf("len%d-%d.acme-mail.com", n, i+1)))
		}
		u.Set(cname(fmt.Sprintf("len%d-%d.acme-mail.com", n, n), own))
	}
	for _, tc := range []struct {
		name     string
		code     Code
		chainLen int
		says     string
	}{
		{"ok.acme-mail.com", OK, 2, "points to " + own},
		{"OK.Acme-Mail.com.", OK, 2, ""},
		{"upper.acme-mail.com", OK, 2, ""},
		{"h1.acme-mail.com", OK, 4, ""},
		{"len8-1.acme-mail.com", OK, 9, ""},
		{"len9-1.acme-mail.com", TooLong, 10, "longer than 8 hops"},
		{"loop1.acme-mail.com", Loop, 3, "loops back to loop1.acme-mail.com"},
		{"other.acme-mail.com", OtherTarget, 2, other},
		{"gone.acme-mail.com", OtherTarget, 2, "no longer exists"},
		{"proxied.acme-mail.com", Proxied, 1, "104.16.0.1, 2606:4700::1"},
		{"missing.acme-mail.com", NoRecord, 1, "does not exist"},
		{"txt.acme-mail.com", NoRecord, 1, "has no CNAME record"},
		{"away.acme-mail.com", Elsewhere, 2, "CNAME for away.acme-mail.com points to www.elsewhere.net"},
		{"dangling.acme-mail.com", Elsewhere, 2, "which does not exist"},
		{"platform.acme-mail.com", Elsewhere, 2, "t.waymark.localhost"},
	} {
		r := v.Check(context.Background(), tc.name, own+".")
		if r.Code != tc.code || len(r.Chain) != tc.chainLen || !strings.Contains(r.Diagnosis, tc.says) {
			t.Errorf("%s: %s %q chain %v; want %s, %d names, saying %q", tc.name, r.Code, r.Diagnosis, r.Chain, tc.code, tc.chainLen, tc.says)
		}
		if r.Code != OK && !strings.Contains(r.Diagnosis, own) && r.Code != Transient {
			t.Errorf("%s: diagnosis does not name the expected target: %q", tc.name, r.Diagnosis)
		}
	}
	// A record removed: the next check sees it at once (no cache).
	u.Remove("ok.acme-mail.com")
	if r := v.Check(context.Background(), "ok.acme-mail.com", own); r.Code != NoRecord {
		t.Fatalf("after removal: %s %s", r.Code, r.Diagnosis)
	}
}

// fakeResolver answers from a function: resolver failures cannot be made
// on demand with real servers, so they are tested here.
type fakeResolver func(*dns.Msg) (*dns.Msg, error)

func (f fakeResolver) Exchange(_ context.Context, m *dns.Msg) (*dns.Msg, error) { return f(m) }

func TestTransientFailures(t *testing.T) {
	servfail := func(m *dns.Msg) (*dns.Msg, error) {
		r := new(dns.Msg)
		r.SetRcode(m, dns.RcodeServerFailure)
		return r, nil
	}
	refused := func(m *dns.Msg) (*dns.Msg, error) {
		r := new(dns.Msg)
		r.SetRcode(m, dns.RcodeRefused)
		return r, nil
	}
	timeout := func(*dns.Msg) (*dns.Msg, error) { return nil, errors.New("i/o timeout") }
	// The first hop answers, the second fails: still transient, not a verdict.
	hop, err := dns.NewRR("track.example.com. 60 IN CNAME hop.example.net.")
	if err != nil {
		t.Fatal(err)
	}
	midway := func(m *dns.Msg) (*dns.Msg, error) {
		if m.Question[0].Name == "track.example.com." {
			r := new(dns.Msg)
			r.SetReply(m)
			r.Answer = []dns.RR{hop}
			return r, nil
		}
		return servfail(m)
	}
	// No CNAME, and then the A lookup fails.
	aFails := func(m *dns.Msg) (*dns.Msg, error) {
		if m.Question[0].Qtype == dns.TypeCNAME {
			r := new(dns.Msg)
			r.SetReply(m)
			return r, nil
		}
		return timeout(m)
	}
	for name, f := range map[string]fakeResolver{"servfail": servfail, "refused": refused, "timeout": timeout, "midway": midway, "a-fails": aFails} {
		v := &Verifier{Resolver: f, Platform: platform}
		r := v.Check(context.Background(), "track.example.com", own)
		if !r.Transient() || r.OK() || !strings.Contains(r.Diagnosis, "not counted as a failed check") {
			t.Errorf("%s: %s %q", name, r.Code, r.Diagnosis)
		}
	}
}

func TestDNSResolverRetriesAndFallsBackToTCP(t *testing.T) {
	// A real server that truncates over UDP and fails the first query.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ips []netip.Addr
	for i := range 100 {
		ips = append(ips, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	zone := dnsserver.Build(dnsserver.Config{Platform: platform, EdgeIPs: ips}, 1, []string{own}, nil)
	srv := dnsserver.NewServer(zone, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	addr, err := srv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion(own+".", dns.TypeA)
	r, err := (&DNSResolver{Addr: addr.String()}).Exchange(ctx, m)
	if err != nil || r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("TCP fallback: %v, truncated=%v answers=%d", err, r != nil && r.Truncated, len(r.Answer))
	}
	// Nothing listening: an error after the attempts, not a hang.
	dead, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&DNSResolver{Addr: fmt.Sprintf("127.0.0.1:%d", dead), Timeout: 200e6}).Exchange(ctx, m); err == nil {
		t.Fatal("no error from a dead resolver")
	}
}
