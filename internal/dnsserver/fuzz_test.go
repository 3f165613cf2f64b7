package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzReply feeds arbitrary packets to the request handling: whatever
// parses as a DNS message gets an answer that packs, is a response to the
// same id, and fits a UDP client's limit.
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
	})
}
