package dnsserver

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Config is what the zone is built from besides the store's data.
type Config struct {
	// Platform is the zone apex, e.g. waymark.localhost (no trailing dot).
	Platform string
	// EdgeIPs are answered as A/AAAA for t.<platform> and every target.
	EdgeIPs []netip.Addr
	// NSIPs are the addresses of ns1.<platform>, the zone's name server;
	// empty means the edge addresses.
	NSIPs []netip.Addr
	// Hostmaster is the SOA RNAME; empty means hostmaster.<platform>.
	Hostmaster string
	// TTL of the positive answers, in seconds.
	TTL uint32
}

// Record is one extra record in the zone, given as data (DKIM TXT, MX, …).
type Record struct {
	// Name is the owner, a name inside the zone, without trailing dot.
	Name string
	// RR is the record; its owner name is set from Name.
	RR dns.RR
}

// rrsets holds the record sets of one name by type. Owner names inside are
// the zone's lower-case names; answers copy the records and put the query's
// own spelling of the name in (so 0x20 case randomisation round-trips).
type rrsets map[uint16][]dns.RR

// Zone is one immutable snapshot of the platform zone.
type Zone struct {
	origin string // lower case, fully qualified (trailing dot)
	serial uint32
	soa    *dns.SOA
	// negative is the authority section of every negative answer: a copy
	// of the SOA with the TTL a resolver may cache the miss for (RFC 2308
	// section 3). Replies share it; packing a message only reads its
	// records.
	negative []dns.RR
	// names maps every fully qualified lower-case name that exists to its
	// records; empty non-terminals map to an empty set (RFC 8020: NODATA,
	// never NXDOMAIN, above an existing name).
	names map[string]rrsets
}

// Serial is the zone's SOA serial.
func (z *Zone) Serial() uint32 { return z.serial }

// Origin is the zone apex, fully qualified.
func (z *Zone) Origin() string { return z.origin }

// Len is the number of names in the zone, empty non-terminals included.
func (z *Zone) Len() int { return len(z.names) }

// Build makes a zone snapshot: SOA and NS at the apex, A/AAAA for ns1,
// t.<platform> and every verification target, and the extra records.
// Targets outside the zone are ignored.
func Build(c Config, serial uint32, targets []string, extra []Record) *Zone {
	origin := dns.Fqdn(strings.ToLower(c.Platform))
	ttl := c.TTL
	if ttl == 0 {
		ttl = 300
	}
	z := &Zone{origin: origin, serial: serial, names: make(map[string]rrsets, len(targets)+16)}
	hostmaster := c.Hostmaster
	if hostmaster == "" {
		hostmaster = "hostmaster." + origin
	}
	ns := "ns1." + origin
	z.soa = &dns.SOA{
		Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
		Ns:  ns, Mbox: dns.Fqdn(hostmaster), Serial: serial,
		Refresh: 3600, Retry: 600, Expire: 1209600,
		// The negative-caching TTL (RFC 2308 section 4): short, so a name
		// that appears after a miss is seen soon.
		Minttl: 60,
	}
	z.add(origin, z.soa)
	neg := dns.Copy(z.soa).(*dns.SOA)
	neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
	z.negative = []dns.RR{neg}
	z.add(origin, &dns.NS{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: ns})
	nsIPs := c.NSIPs
	if len(nsIPs) == 0 {
		nsIPs = c.EdgeIPs
	}
	z.names[ns] = addressSet(ns, nsIPs, ttl)
	// Every target shares one record set: 100k targets cost one map entry
	// each, not two records each.
	edge := addressSet(origin, c.EdgeIPs, ttl)
	z.names["t."+origin] = edge
	for _, t := range targets {
		name := dns.Fqdn(strings.ToLower(t))
		if dns.IsSubDomain(origin, name) {
			z.names[name] = edge
		}
	}
	for _, r := range extra {
		name := dns.Fqdn(strings.ToLower(r.Name))
		if !dns.IsSubDomain(origin, name) || r.RR == nil {
			continue
		}
		rr := dns.Copy(r.RR)
		rr.Header().Name = name
		z.add(name, rr)
	}
	// Empty non-terminals: every ancestor of an existing name up to the apex.
	for name := range z.names {
		for p := parent(name); p != "" && dns.IsSubDomain(origin, p) && p != origin; p = parent(p) {
			if _, ok := z.names[p]; ok {
				break
			}
			z.names[p] = rrsets{}
		}
	}
	return z
}

func (z *Zone) add(name string, rr dns.RR) {
	set, ok := z.names[name]
	if !ok {
		set = rrsets{}
		z.names[name] = set
	}
	t := rr.Header().Rrtype
	set[t] = append(set[t], rr)
}

func addressSet(name string, ips []netip.Addr, ttl uint32) rrsets {
	set := rrsets{}
	for _, ip := range ips {
		if ip.Is4() || ip.Is4In6() {
			set[dns.TypeA] = append(set[dns.TypeA], &dns.A{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: ip.Unmap().AsSlice()})
		} else {
			set[dns.TypeAAAA] = append(set[dns.TypeAAAA], &dns.AAAA{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: ip.AsSlice()})
		}
	}
	return set
}

// parent returns the name with its first label removed ("" at the root).
func parent(name string) string {
	i, end := dns.NextLabel(name, 0)
	if end {
		return ""
	}
	return name[i:]
}

// Result is the outcome of a lookup.
type Result int

const (
	// Refused: the name is outside the zone (RFC 1035 REFUSED).
	Refused Result = iota
	// Answer: the name has records of the type.
	Answer
	// NoData: the name exists but has no records of the type.
	NoData
	// NXDomain: the name does not exist.
	NXDomain
)

// Lookup answers qname/qtype from the zone. Answer records carry qname as
// their owner, spelled as asked.
func (z *Zone) Lookup(qname string, qtype uint16) (Result, []dns.RR) {
	key := strings.ToLower(qname)
	if !z.inZone(key) {
		return Refused, nil
	}
	set, ok := z.names[key]
	if !ok {
		return NXDomain, nil
	}
	var rrs []dns.RR
	if qtype == dns.TypeANY {
		// RFC 8482 allows a subset; the whole node is small, so give it.
		for _, s := range set {
			rrs = append(rrs, s...)
		}
	} else {
		rrs = set[qtype]
	}
	if len(rrs) == 0 {
		return NoData, nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = qname
		out[i] = c
	}
	return Answer, out
}

// inZone reports whether name (lower case) is the origin or a name below
// it, as dns.IsSubDomain does, but without its allocations for the names a
// query carries: fully qualified, the origin's labels after an unescaped
// dot (escapes as in RFC 1035 section 5.1). Anything else is left to
// dns.IsSubDomain.
func (z *Zone) inZone(name string) bool {
	if name == z.origin {
		return true
	}
	if n := len(name) - len(z.origin); n > 1 && name[n:] == z.origin && name[n-1] == '.' && !escaped(name, n-1) {
		return true
	}
	return dns.IsSubDomain(z.origin, name)
}

// escaped reports whether s[i] follows an odd number of backslashes, as in
// dns.NextLabel.
func escaped(s string, i int) bool {
	j := i - 1
	for j >= 0 && s[j] == '\\' {
		j--
	}
	return (i-j)%2 == 0
}

// SOA returns the zone's SOA record. It is the snapshot's own: callers
// must not change it.
func (z *Zone) SOA() *dns.SOA { return z.soa }
