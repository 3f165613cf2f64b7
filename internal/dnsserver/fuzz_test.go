package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzReply feeds arbitrary packets to the request handling: whatever
// parses as a DNS message gets an answer that packs, is a response to the
// same id, and fits a UDP client's limit; the SOA record that negative
// answers share is never changed by building or packing one.
func FuzzReply(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{target + ".", dns.TypeA, false},
		{"WAYMARK.localhost.", dns.TypeSOA, true},
		{"x.track.waymark.localhost.", dns.TypeCAA, true},
		{"example.com.", dns.TypeANY, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(4096, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, true)
	}
	s := NewServer(testZone(), quiet, nil)
	negative := s.Zone().negative[0].String()
	f.Fuzz(func(t *testing.T, packet []byte, udp bool) {
		req := new(dns.Msg)
		if req.Unpack(packet) != nil {
			return
		}
		r := s.Reply(req, udp)
		if r == nil {
			if !req.Response {
				t.Fatal("no answer to a query")
			}
			return
		}
		b, err := r.Pack()
		if err != nil {
			t.Fatalf("answer does not pack: %v\n%v", err, r)
		}
		if !r.Response || r.Id != req.Id {
			t.Fatalf("answer is not a response to %d: %v", req.Id, r)
		}
		limit := dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			limit = max(limit, min(int(opt.UDPSize()), maxUDPSize))
		}
		if udp && len(b) > limit {
			t.Fatalf("UDP answer of %d bytes exceeds %d", len(b), limit)
		}
		if got := s.Zone().negative[0].String(); got != negative {
			t.Fatalf("the shared negative SOA changed to %s", got)
		}
	})
}

// FuzzInZone: the zone's own check of a name against the origin agrees with
// dns.IsSubDomain on every name, escapes and empty labels included.
func FuzzInZone(f *testing.F) {
	for _, s := range []string{"waymark.localhost.", "t.waymark.localhost.", "x\\.waymark.localhost.",
		"x\\\\.waymark.localhost.", ".waymark.localhost.", "a..waymark.localhost.", "xwaymark.localhost.",
		"waymark.localhost", "t.waymark.localhost", "example.com.", "."} {
		f.Add(s)
	}
	z := testZone()
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := z.inZone(name), dns.IsSubDomain(z.origin, name); got != want {
			t.Fatalf("inZone(%q) = %v, dns.IsSubDomain = %v", name, got, want)
		}
	})
}
