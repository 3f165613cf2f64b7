package uribl

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// zoneResolver answers from a table of names: an A address, or NXDOMAIN;
// a name in slow never answers before the context ends.
type zoneResolver struct {
	mu    sync.Mutex
	a     map[string]string
	slow  map[string]bool
	asked []string
}

func (z *zoneResolver) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	name := m.Question[0].Name
	z.mu.Lock()
	z.asked = append(z.asked, name)
	a, ok := z.a[name]
	slow := z.slow[name]
	z.mu.Unlock()
	if slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r := new(dns.Msg)
	r.SetReply(m)
	if !ok {
		r.Rcode = dns.RcodeNameError
		r.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "dbl.test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 600}, Minttl: 120}}
		return r, nil
	}
	r.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(a)}}
	return r, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRegistrable(t *testing.T) {
	for in, want := range map[string]string{
		"https://www.shop.example.co.uk/a?b": "example.co.uk",
		"http://Login.Bad.EXAMPLE./x":        "bad.example",
		"https://192.0.2.7/x":                "192.0.2.7",
		"https://co.uk/":                     "co.uk",
		"https://www.bücher.example/":        "xn--bcher-kva.example",
		"https://good.example@bad.example/":  "bad.example",
		"HTTPS://WWW.BAD.EXAMPLE:8443/":      "bad.example",
		"not a url":                          "",
		"mailto:x@y":                         "",
		// As a browser reads them (WHATWG URL), not as net/url would.
		`https://bad.example\@good.example/`: "bad.example",
		"https://bad.exa\tmple/":             "bad.example",
		"https://bad%2Eexample/":             "bad.example",
		"https://bad。example/":               "bad.example",
		"https://ｂａｄ.example/":               "bad.example",
		"https:\\\\bad.example\\x":           "bad.example",
		"https:///bad.example/":              "bad.example",
		"https://[2001:db8::1]:8443/":        "[2001:db8::1]",
	} {
		if got := Registrable(in); got != want {
			t.Errorf("Registrable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct{ zone, a, want string }{
		{"dbl.spamhaus.org", "127.0.1.2", "spam domain"},
		{"dbl.spamhaus.org", "127.0.1.4", "phishing domain"},
		{"dbl.spamhaus.org", "127.0.1.255", "refused: the query came through a public resolver, which Spamhaus does not answer"},
		{"multi.surbl.org", "127.0.0.24", "phishing (PH), malware (MW)"},
		{"multi.uribl.com", "127.0.0.2", "black"},
		{"multi.uribl.com", "127.0.0.1", "refused: the query came through a public resolver, which URIBL does not answer"},
		{"lists.example", "127.0.0.9", "listed (127.0.0.9)"},
		{"lists.example", "10.0.0.1", "not a listing (10.0.0.1)"},
		{"dbl.spamhaus.org", "127.255.255.254", "refused: the list answered an error (127.255.255.254), such as a query through a public resolver or over the free volume"},
		{"multi.surbl.org", "127.0.0.1", "refused: SURBL blocked the query (a public resolver, or over the free volume)"},
	} {
		if got := Reason(tc.zone, netip.MustParseAddr(tc.a)); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.zone, tc.a, got, tc.want)
		}
	}
}

// TestCheck: each registrable domain is looked up once per zone, at once;
// a listing names the list and the decoded code; the platform's own list
// needs no lookup; answers are cached for their TTL (NXDOMAIN for the
// SOA's minimum); a lookup still out at the deadline lets the link
// through and is counted; a list that refuses the query is no listing.
func TestCheck(t *testing.T) {
	z := &zoneResolver{a: map[string]string{
		"bad.example.dbl.test.": "127.0.1.2",
		"pub.example.dbl.test.": "127.0.1.255",
	}, slow: map[string]bool{"slow.example.dbl.test.": true}}
	reg := prometheus.NewRegistry()
	c := New([]string{"dbl.test"}, z, quiet(), reg)
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }
	if c.Check(context.Background(), []string{"https://bad.example/"}); len(z.asked) != 1 {
		t.Fatalf("asked %v", z.asked)
	}
	c.SetBlocked(map[string]string{"phish.example": "reported"})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	got := c.Check(ctx, []string{"https://ok.example/", "https://www.bad.example/x", "https://login.phish.example/", "https://slow.example/",
		"https://pub.example/", "https://bad.example/again"})
	if len(got) != 2 || got[0].String() != "bad.example is listed on dbl.test (spam domain)" ||
		got[1].String() != "phish.example is listed on the platform's blocklist (reported)" {
		t.Fatalf("listings %v", got)
	}
	if n := testutil.ToFloat64(c.lookups.WithLabelValues("dbl.test", "timeout")); n != 1 {
		t.Fatalf("%v timeouts counted", n)
	}
	if n := testutil.ToFloat64(c.lookups.WithLabelValues("dbl.test", "cached_listed")); n != 1 {
		t.Fatalf("%v cached listings: bad.example asked again (%v)", n, z.asked)
	}
	asked := len(z.asked)
	// Cached: clean for the SOA's 120 s, listed for the answer's 300 s.
	now = now.Add(100 * time.Second)
	c.Check(context.Background(), []string{"https://ok.example/", "https://bad.example/"})
	if len(z.asked) != asked {
		t.Fatalf("asked again within the TTLs: %v", z.asked[asked:])
	}
	now = now.Add(30 * time.Second)
	c.Check(context.Background(), []string{"https://ok.example/", "https://bad.example/"})
	if len(z.asked) != asked+1 || !strings.HasPrefix(z.asked[asked], "ok.example.") {
		t.Fatalf("after the clean answer's TTL: %v", z.asked[asked:])
	}
}

// TestCached: the edge's check answers from memory: a cached listing, the
// platform's list; an unknown destination is looked up in the background
// and refused from then on.
func TestCached(t *testing.T) {
	z := &zoneResolver{a: map[string]string{"later.example.dbl.test.": "127.0.1.5"}}
	c := New([]string{"dbl.test"}, z, quiet(), nil)
	if l := c.Cached("https://later.example/"); l != nil {
		t.Fatalf("unknown, answered as %v", l)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Cached("https://later.example/") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the background lookup never landed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if l := c.Cached("https://www.later.example/x"); l == nil || l.Reason != "malware domain" {
		t.Fatalf("cached: %v", l)
	}
	var none *Checker
	if none.Cached("https://later.example/") != nil || none.Enabled() {
		t.Fatal("a nil checker checks")
	}
}

// BenchmarkCheckCached is the cost blocklist checking adds to a message
// of 40 links on 8 domains once the answers are cached (two zones), the
// steady state of a sender's campaign.
func BenchmarkCheckCached(b *testing.B) {
	z := &zoneResolver{a: map[string]string{}}
	c := New([]string{"dbl.test", "multi.test"}, z, quiet(), nil)
	var dests []string
	for i := range 40 {
		dests = append(dests, "https://www.shop"+string(rune('a'+i%8))+".example/products/"+strings.Repeat("x", i))
	}
	c.Check(context.Background(), dests)
	b.ReportAllocs()
	for b.Loop() {
		if l := c.Check(context.Background(), dests); len(l) != 0 {
			b.Fatal(l)
		}
	}
}
