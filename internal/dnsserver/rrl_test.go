package dnsserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestRRLTable: identical answers to one netblock are limited, every
// second one over the rate slips out truncated; another netblock, another
// name, and the same netblock a moment later are answered.
func TestRRLTable(t *testing.T) {
	l := newRRL(5, 2)
	now := time.Unix(1_800_000_000, 0)
	ans := func(name string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		return m
	}
	a := netip.MustParseAddr("192.0.2.7")
	counts := map[int]int{}
	for range 25 {
		counts[l.check(a, ans("x.waymark.localhost."), now)]++
	}
	if counts[rrlAnswer] != 5 || counts[rrlSlip] != 10 || counts[rrlDrop] != 10 {
		t.Fatalf("25 at once: %v", counts)
	}
	if v := l.check(netip.MustParseAddr("192.0.2.200"), ans("x.waymark.localhost."), now); v != rrlDrop && v != rrlSlip {
		t.Fatal("the same /24 was not limited")
	}
	if v := l.check(netip.MustParseAddr("192.0.3.7"), ans("x.waymark.localhost."), now); v != rrlAnswer {
		t.Fatal("another /24 was limited")
	}
	if v := l.check(a, ans("y.waymark.localhost."), now); v != rrlAnswer {
		t.Fatal("another answer to the limited client was limited")
	}
	if v := l.check(a, ans("x.waymark.localhost."), now.Add(time.Second)); v != rrlAnswer {
		t.Fatal("still limited a second later")
	}
	// NXDOMAINs for random names share one rate.
	nx := func(name string) *dns.Msg { m := ans(name); m.Rcode = dns.RcodeNameError; return m }
	b := netip.MustParseAddr("198.51.100.9")
	limited := 0
	for i := range 20 {
		if l.check(b, nx(fmt.Sprintf("r%d.waymark.localhost.", i)), now) != rrlAnswer {
			limited++
		}
	}
	if limited != 15 {
		t.Fatalf("20 NXDOMAINs for random names: %d limited, want 15", limited)
	}
	if newRRL(0, 2) != nil || newRRL(0, 2).check(a, ans("x."), now) != rrlAnswer {
		t.Fatal("a zero rate limits")
	}
}

// TestRRLFlood: a flood of one query from 127.0.0.1 over UDP is limited
// (most answers dropped, some truncated), while a client in another
// netblock (127.0.1.5) keeps getting whole answers, and TCP is never
// limited.
func TestRRLFlood(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(testZone(), quiet, nil)
	s.RateLimit(20, 2)
	addr, err := s.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := addr.(*net.UDPAddr)
	flood, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")}, server)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	q := new(dns.Msg)
	q.SetQuestion(target+".", dns.TypeA)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	const sent = 400
	for range sent {
		if _, err := flood.Write(wire); err != nil {
			t.Fatal(err)
		}
	}
	whole, truncated := 0, 0
	buf := make([]byte, 1500)
	for {
		if err := flood.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := flood.Read(buf)
		if err != nil {
			break
		}
		var r dns.Msg
		if err := r.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if r.Truncated {
			truncated++
		} else if len(r.Answer) == 1 {
			whole++
		}
	}
	if whole < 20 || whole > 60 || truncated == 0 || whole+truncated > sent*3/4 {
		t.Fatalf("of %d queries in a flood: %d whole answers, %d truncated", sent, whole, truncated)
	}
	// Another netblock is answered, over UDP, while the flood's is limited.
	other := &dns.Client{Net: "udp", Timeout: time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.1.5")}}}
	for i := range 10 {
		r, _, err := other.Exchange(q, server.String())
		if err != nil || r.Truncated || len(r.Answer) != 1 {
			t.Fatalf("another netblock, query %d: %v %v", i, r, err)
		}
	}
	// TCP is not limited: the flooded client still gets its answer there.
	r, _, err := (&dns.Client{Net: "tcp", Timeout: time.Second}).Exchange(q, server.String())
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("TCP: %v %v", r, err)
	}
	t.Logf("flood of %d: %d answered, %d truncated, the rest dropped", sent, whole, truncated)
}
