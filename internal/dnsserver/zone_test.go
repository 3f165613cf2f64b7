package dnsserver

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

var testConfig = Config{
	Platform: "Waymark.Localhost",
	EdgeIPs:  []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")},
}

const target = "v-0123456789abcdef.track.waymark.localhost"

func testZone() *Zone {
	txt := &dns.TXT{Hdr: dns.RR_Header{Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300}, Txt: []string{"v=spf1 -all"}}
	return Build(testConfig, 7, []string{target, "V-FFFFFFFFFFFFFFFF.track.waymark.localhost.", "outside.example.com"},
		[]Record{{Name: "sd1.bounce.waymark.localhost", RR: txt}, {Name: "elsewhere.example", RR: txt}})
}

func TestLookup(t *testing.T) {
	z := testZone()
	for _, tc := range []struct {
		name  string
		qtype uint16
		res   Result
		want  string // answer records, owner and data, joined
	}{
		{"waymark.localhost.", dns.TypeSOA, Answer, "SOA ns1.waymark.localhost. hostmaster.waymark.localhost. 7"},
		{"WAYMARK.localhost.", dns.TypeNS, Answer, "NS ns1.waymark.localhost."},
		{"ns1.waymark.localhost.", dns.TypeA, Answer, "A 192.0.2.10"},
		{"t.waymark.localhost.", dns.TypeA, Answer, "A 192.0.2.10"},
		{"t.waymark.localhost.", dns.TypeAAAA, Answer, "AAAA 2001:db8::10"},
		{target + ".", dns.TypeA, Answer, "A 192.0.2.10"},
		{strings.ToUpper(target) + ".", dns.TypeAAAA, Answer, "AAAA 2001:db8::10"},
		{"v-ffffffffffffffff.track.waymark.localhost.", dns.TypeA, Answer, "A 192.0.2.10"},
		{target + ".", dns.TypeCAA, NoData, ""},
		{target + ".", dns.TypeCNAME, NoData, ""},
		{target + ".", dns.TypeTXT, NoData, ""},
		{"sd1.bounce.waymark.localhost.", dns.TypeTXT, Answer, `TXT "v=spf1 -all"`},
		// Empty non-terminals exist: NODATA, not NXDOMAIN.
		{"track.waymark.localhost.", dns.TypeA, NoData, ""},
		{"bounce.waymark.localhost.", dns.TypeTXT, NoData, ""},
		{"v-0000000000000000.track.waymark.localhost.", dns.TypeA, NXDomain, ""},
		{"x." + target + ".", dns.TypeA, NXDomain, ""},
		{"dkim.waymark.localhost.", dns.TypeTXT, NXDomain, ""},
		{"outside.example.com.", dns.TypeA, Refused, ""},
		{"elsewhere.example.", dns.TypeTXT, Refused, ""},
		{"localhost.", dns.TypeA, Refused, ""},
		{".", dns.TypeNS, Refused, ""},
		{"xwaymark.localhost.", dns.TypeA, Refused, ""},
	} {
		res, rrs := z.Lookup(tc.name, tc.qtype)
		var got []string
		for _, rr := range rrs {
			if rr.Header().Name != tc.name {
				t.Errorf("%s: owner %q, want the query's spelling", tc.name, rr.Header().Name)
			}
			fields := strings.Fields(rr.String())
			got = append(got, strings.Join(fields[3:], " "))
		}
		if res != tc.res || !strings.HasPrefix(strings.Join(got, "|"), tc.want) || (tc.want == "" && len(got) > 0) {
			t.Errorf("Lookup(%s, %s) = %v %v; want %v %q", tc.name, dns.TypeToString[tc.qtype], res, got, tc.res, tc.want)
		}
	}
	// ANY gives every record of the node.
	if res, rrs := z.Lookup("t.waymark.localhost.", dns.TypeANY); res != Answer || len(rrs) != 2 {
		t.Errorf("ANY: %v %v", res, rrs)
	}
	// Answers are copies: changing one does not change the zone.
	_, rrs := z.Lookup(target+".", dns.TypeA)
	rrs[0].(*dns.A).A[0] = 1
	if _, again := z.Lookup(target+".", dns.TypeA); again[0].(*dns.A).A.String() != "192.0.2.10" {
		t.Fatal("answer aliases the zone's records")
	}
}

func TestBuildSharesTargetRecords(t *testing.T) {
	targets := make([]string, 1000)
	for i := range targets {
		targets[i] = fmt.Sprintf("v-%016x.track.waymark.localhost", i)
	}
	z := Build(testConfig, 1, targets, nil)
	// apex, ns1, t, track (empty non-terminal) and the targets.
	if z.Len() != len(targets)+4 {
		t.Fatalf("zone has %d names, want %d", z.Len(), len(targets)+4)
	}
	if z.Serial() != 1 || z.Origin() != "waymark.localhost." {
		t.Fatalf("serial %d origin %q", z.Serial(), z.Origin())
	}
}

func TestBuildWithoutEdgeIPs(t *testing.T) {
	z := Build(Config{Platform: "waymark.localhost"}, 1, []string{target}, nil)
	if res, _ := z.Lookup(target+".", dns.TypeA); res != NoData {
		t.Fatalf("target without edge IPs: %v, want NODATA", res)
	}
}
