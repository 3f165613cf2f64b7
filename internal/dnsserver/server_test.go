package dnsserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// serve starts a server on a loopback port and returns its address.
func serve(t *testing.T, z *Zone) (*Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := NewServer(z, quiet, nil)
	addr, err := s.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return s, addr.String()
}

func query(t *testing.T, addr, net string, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: net, Timeout: 2 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", net, name, dns.TypeToString[qtype], err)
	}
	return r
}

func TestServeUDPAndTCP(t *testing.T) {
	_, addr := serve(t, testZone())
	for _, proto := range []string{"udp", "tcp"} {
		r := query(t, addr, proto, target+".", dns.TypeA, 0)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.RecursionAvailable || len(r.Answer) != 1 ||
			r.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
			t.Fatalf("%s A: %v", proto, r)
		}
		r = query(t, addr, proto, "v-0000000000000000.track.waymark.localhost.", dns.TypeA, 0)
		if r.Rcode != dns.RcodeNameError || !r.Authoritative || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA ||
			r.Ns[0].Header().Ttl != 60 {
			t.Fatalf("%s NXDOMAIN: %v", proto, r)
		}
		r = query(t, addr, proto, target+".", dns.TypeCAA, 0)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Fatalf("%s CAA NODATA: %v", proto, r)
		}
		r = query(t, addr, proto, "www.example.com.", dns.TypeA, 0)
		if r.Rcode != dns.RcodeRefused || r.Authoritative {
			t.Fatalf("%s outside: %v", proto, r)
		}
	}
}

func TestEDNSAndTruncation(t *testing.T) {
	// 100 edge addresses make an answer far larger than 512 bytes.
	c := testConfig
	c.EdgeIPs = nil
	for i := range 100 {
		c.EdgeIPs = append(c.EdgeIPs, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	_, addr := serve(t, Build(c, 1, []string{target}, nil))

	r := query(t, addr, "udp", target+".", dns.TypeA, 0)
	r.Compress = true // Len then counts the wire size, as sent
	if !r.Truncated || len(r.Answer) == 100 || r.Len() > 512 {
		t.Fatalf("plain UDP: TC=%v answers=%d len=%d; want TC and at most 512 bytes", r.Truncated, len(r.Answer), r.Len())
	}
	r = query(t, addr, "udp", target+".", dns.TypeA, 4096)
	r.Compress = true
	if !r.Truncated || r.Len() > maxUDPSize || r.IsEdns0() == nil || r.IsEdns0().UDPSize() != maxUDPSize {
		t.Fatalf("EDNS UDP: TC=%v len=%d opt=%v; want TC, <= %d bytes, OPT", r.Truncated, r.Len(), r.IsEdns0(), maxUDPSize)
	}
	// The TCP fallback gets everything.
	r = query(t, addr, "tcp", target+".", dns.TypeA, 0)
	if r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("TCP: TC=%v answers=%d; want all 100", r.Truncated, len(r.Answer))
	}
	// A small answer with EDNS carries an OPT record back.
	r = query(t, addr, "udp", "waymark.localhost.", dns.TypeSOA, 1232)
	if r.Truncated || r.IsEdns0() == nil || len(r.Answer) != 1 {
		t.Fatalf("EDNS SOA: %v", r)
	}
}

func TestReplyRcodes(t *testing.T) {
	s := NewServer(testZone(), quiet, nil)
	msg := func(edit func(*dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("waymark.localhost.", dns.TypeSOA)
		edit(m)
		return m
	}
	for _, tc := range []struct {
		name  string
		req   *dns.Msg
		rcode int
	}{
		{"update opcode", msg(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), dns.RcodeNotImplemented},
		{"two questions", msg(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), dns.RcodeFormatError},
		{"no question", msg(func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"EDNS version 1", msg(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), dns.RcodeBadVers},
		{"AXFR", msg(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAXFR }), dns.RcodeRefused},
		{"CHAOS class", msg(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), dns.RcodeRefused},
		{"plain SOA", msg(func(*dns.Msg) {}), dns.RcodeSuccess},
		{"two OPT records", msg(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, m.Extra[0]) }), dns.RcodeFormatError},
	} {
		r := s.Reply(tc.req, true)
		if r == nil || r.Rcode != tc.rcode {
			t.Errorf("%s: %v, want rcode %s", tc.name, r, dns.RcodeToString[tc.rcode])
		}
	}
	resp := msg(func(m *dns.Msg) { m.Response = true })
	if s.Reply(resp, true) != nil {
		t.Error("answered a response")
	}
}

// TestNegativeShared: every negative answer carries the snapshot's one SOA
// record, not a copy, so packing must leave it as it was. Replies are built
// and packed from several goroutines at once (the race detector sees any
// write), with and without EDNS, over UDP and TCP, and the record is then
// compared with what Build made.
func TestNegativeShared(t *testing.T) {
	z := testZone()
	s := NewServer(z, quiet, nil)
	want := z.negative[0].String()
	if soa := z.negative[0].(*dns.SOA); soa.Hdr.Ttl != 60 || z.SOA().Hdr.Ttl != 3600 {
		t.Fatalf("negative SOA TTL %d, apex SOA TTL %d; want 60 and 3600", soa.Hdr.Ttl, z.SOA().Hdr.Ttl)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				m := new(dns.Msg)
				if i%2 == 0 {
					m.SetQuestion(fmt.Sprintf("v-%016x.track.WAYMARK.localhost.", i), dns.TypeA) // NXDOMAIN
				} else {
					m.SetQuestion(target+".", dns.TypeCAA) // NODATA
				}
				if g%2 == 0 {
					m.SetEdns0(1232, true)
				}
				r := s.Reply(m, g < 2)
				if len(r.Ns) != 1 || r.Ns[0] != z.negative[0] {
					t.Errorf("authority section %v, want the snapshot's SOA", r.Ns)
					return
				}
				if _, err := r.Pack(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := z.negative[0].String(); got != want {
		t.Fatalf("the shared SOA changed:\n got %s\nwant %s", got, want)
	}
	if res, rrs := z.Lookup("WAYMARK.localhost.", dns.TypeSOA); res != Answer || rrs[0].Header().Ttl != 3600 || rrs[0].Header().Name != "WAYMARK.localhost." {
		t.Fatalf("apex SOA after negative answers: %v %v", res, rrs)
	}
}

// fakeSource is a store stand-in for Reload.
type fakeSource struct{ targets []string }

func (f *fakeSource) VerificationTargets(context.Context) ([]string, error) { return f.targets, nil }
func (f *fakeSource) ExtraRecords(context.Context) ([]Record, error)        { return nil, nil }

func TestReload(t *testing.T) {
	s := NewServer(Build(testConfig, 0, nil, nil), quiet, nil)
	if err := s.Reload(context.Background(), &fakeSource{targets: []string{target}}, testConfig, 5); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.Zone().Lookup(target+".", dns.TypeA); res != Answer || s.Zone().Serial() != 5 {
		t.Fatalf("after reload: %v serial %d", res, s.Zone().Serial())
	}
	if err := s.Reload(context.Background(), &fakeSource{}, testConfig, 6); err != nil {
		t.Fatal(err)
	}
	if res, _ := s.Zone().Lookup(target+".", dns.TypeA); res != NXDomain {
		t.Fatalf("after second reload: %v", res)
	}
}

// TestDig asks the server with dig, the tool an operator would use.
func TestDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		testenv.Missing(t, "dig (apt dnsutils)", err)
	}
	_, addr := serve(t, testZone())
	host, port, _ := strings.Cut(addr, ":")
	run := func(args ...string) string {
		out, err := exec.Command(dig, append([]string{"@" + host, "-p", port, "+norecurse", "+time=2", "+tries=1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dig %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"waymark.localhost", "SOA", "+short"}, []string{"ns1.waymark.localhost. hostmaster.waymark.localhost. 7 3600 600 1209600 60"}},
		{[]string{"waymark.localhost", "NS", "+short"}, []string{"ns1.waymark.localhost."}},
		{[]string{target, "A", "+short"}, []string{"192.0.2.10"}},
		{[]string{target, "AAAA", "+short"}, []string{"2001:db8::10"}},
		{[]string{target, "CAA"}, []string{"status: NOERROR", "flags: qr aa;", "ANSWER: 0", "AUTHORITY: 1"}},
		{[]string{"v-0000000000000000.track.waymark.localhost", "A"}, []string{"status: NXDOMAIN", "flags: qr aa;"}},
		{[]string{"example.com", "A"}, []string{"status: REFUSED"}},
		{[]string{target, "A", "+tcp", "+short"}, []string{"192.0.2.10"}},
	} {
		out := run(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("dig %v: missing %q in\n%s", tc.args, w, out)
			}
		}
	}
}

// TestANYMinimal: an ANY query gets one RRset of the name (RFC 8482
// section 4.2), the same one each time, not everything the name has.
func TestANYMinimal(t *testing.T) {
	s := NewServer(testZone(), quiet, nil)
	for _, name := range []string{"waymark.localhost.", "t.waymark.localhost."} {
		full, all := s.zone.Load().Lookup(name, dns.TypeANY)
		types := map[uint16]bool{}
		for _, rr := range all {
			types[rr.Header().Rrtype] = true
		}
		if full != Answer || len(types) < 2 {
			t.Fatalf("%s has %d types in the zone; the test needs two or more", name, len(types))
		}
		var first uint16
		for range 5 {
			q := new(dns.Msg)
			q.SetQuestion(name, dns.TypeANY)
			r := s.Reply(q, true)
			if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
				t.Fatalf("ANY %s: %v", name, r)
			}
			typ := r.Answer[0].Header().Rrtype
			for _, rr := range r.Answer {
				if rr.Header().Rrtype != typ {
					t.Fatalf("ANY %s: more than one RRset: %v", name, r.Answer)
				}
			}
			if first != 0 && typ != first {
				t.Fatalf("ANY %s: %s, then %s", name, dns.TypeToString[first], dns.TypeToString[typ])
			}
			first = typ
		}
	}
}
