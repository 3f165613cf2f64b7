package sending

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/store"
)

// Record is a DNS record the customer publishes, with what it is for.
type Record struct {
	Name  string
	Type  string
	Value string
	Kind  RecordKind
	// Note says more for people: "rsa, selector 1".
	Note string
}

// RecordKind says what a customer record is for.
type RecordKind string

const (
	// KindDKIM: a selector's CNAME to its key in the platform zone.
	KindDKIM RecordKind = "dkim"
	// KindBounce: the Return-Path host, whose MX and SPF waymark serves.
	KindBounce RecordKind = "bounce"
	// KindDMARC: _dmarc, to the hosted policy.
	KindDMARC RecordKind = "dmarc"
	// KindClick: the click host, a tracking domain made with the domain.
	KindClick RecordKind = "click"
)

// Purpose is the record's kind and note, for people: "dkim (rsa,
// selector 1)".
func (r Record) Purpose() string {
	if r.Note == "" {
		return string(r.Kind)
	}
	return string(r.Kind) + " (" + r.Note + ")"
}

// DKIMTarget is where a selector's key is published for a domain label.
func DKIMTarget(selector, label, platform string) string {
	return selector + "." + label + ".dkim." + platform
}

// CustomerRecords lists the CNAMEs the customer adds for d; clickTarget is
// the verification target of its click host's tracking domain.
func CustomerRecords(d store.SendingDomain, platform, clickTarget string) []Record {
	var out []Record
	for _, alg := range d.Algorithms {
		for i, sel := range dkim.Algorithm(alg).Selectors() {
			out = append(out, Record{Name: sel + "._domainkey." + d.Name, Type: "CNAME", Value: DKIMTarget(sel, d.Label, platform),
				Kind: KindDKIM, Note: fmt.Sprintf("%s, selector %d", alg, i+1)})
		}
	}
	return append(out,
		Record{Name: d.BounceHost, Type: "CNAME", Value: d.Label + ".bounce." + platform, Kind: KindBounce, Note: "Return-Path: MX and SPF"},
		Record{Name: "_dmarc." + d.Name, Type: "CNAME", Value: d.Label + ".dmarc." + platform, Kind: KindDMARC, Note: "hosted policy, optional"},
		Record{Name: d.ClickHost, Type: "CNAME", Value: clickTarget, Kind: KindClick, Note: "tracking domain " + d.ClickDomainID},
	)
}

// MaxName is the longest DNS name, in octets (RFC 1035 section 2.3.4).
const MaxName = 253

// TooLong returns the longest of d's customer records if its name is over
// MaxName octets (a domain with such a record can never verify), else "".
func TooLong(d store.SendingDomain, platform, clickTarget string) string {
	longest := ""
	for _, r := range CustomerRecords(d, platform, clickTarget) {
		if len(r.Name) > len(longest) {
			longest = r.Name
		}
	}
	if len(longest) > MaxName {
		return longest
	}
	return ""
}

// ZoneConfig is what the served records need beyond the store's data.
type ZoneConfig struct {
	Platform string
	// SendingIPs are the addresses mail leaves from, and SPFIncludes the
	// operator's SPF names, for spf.<platform>.
	SendingIPs  []netip.Addr
	SPFIncludes []string
	// MXIPs are the addresses of mx.<platform>, the bounce hosts' MX.
	MXIPs []netip.Addr
	// DMARC is the policy served for every domain.
	DMARC string
}

// DefaultDMARC is a monitoring policy: it asks for nothing to be rejected.
const DefaultDMARC = "v=DMARC1; p=none; adkim=r; aspf=r"

func txt(name string, ttl uint32, value string) dnsserver.Record {
	return dnsserver.Record{Name: name, RR: &dns.TXT{Hdr: dns.RR_Header{Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: ttl},
		Txt: dkim.SplitTXT(value)}}
}

// MaxSPFIncludes is how many of the operator's SPF names spf.<platform>
// may include: SPF allows 10 DNS lookups in all (RFC 7208 section 4.6.4),
// and a bounce host's record spends one on include:spf.<platform>. The
// names' own records spend more of them; that is the operator's to count.
const MaxSPFIncludes = 9

// SPF is the record of spf.<platform>: the addresses mail leaves from, the
// operator's own SPF names, and nothing else (-all). It goes out in
// 255-octet strings, which receivers join without spaces (RFC 7208
// section 3.3).
func SPF(ips []netip.Addr, includes []string) string {
	var b strings.Builder
	b.WriteString("v=spf1")
	for _, ip := range ips {
		if ip.Is4() {
			b.WriteString(" ip4:" + ip.String())
		} else {
			b.WriteString(" ip6:" + ip.String())
		}
	}
	for _, name := range includes {
		b.WriteString(" include:" + name)
	}
	b.WriteString(" -all")
	return b.String()
}

// ZoneRecords are the records the platform zone serves for sending
// domains: each published DKIM key, the bounce hosts' MX and SPF, DMARC
// (a domain's own policy, from policies by label, else the default), and
// the shared spf. and mx. hosts.
func ZoneRecords(c ZoneConfig, keys []store.PublishedKey, labels []string, policies map[string]string) []dnsserver.Record {
	p := c.Platform
	mx := "mx." + p
	out := []dnsserver.Record{txt("spf."+p, 300, SPF(c.SendingIPs, c.SPFIncludes))}
	for _, ip := range c.MXIPs {
		if ip.Is4() {
			out = append(out, dnsserver.Record{Name: mx, RR: &dns.A{Hdr: dns.RR_Header{Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: ip.AsSlice()}})
		} else {
			out = append(out, dnsserver.Record{Name: mx, RR: &dns.AAAA{Hdr: dns.RR_Header{Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: ip.AsSlice()}})
		}
	}
	for _, k := range keys {
		sels := dkim.Algorithm(k.Algorithm).Selectors()
		if k.Slot < 0 || k.Slot > 1 {
			continue
		}
		out = append(out, txt(DKIMTarget(sels[k.Slot], k.Label, p), 300, k.TXT))
	}
	dmarc := c.DMARC
	if dmarc == "" {
		dmarc = DefaultDMARC
	}
	for _, l := range labels {
		bounce := l + ".bounce." + p
		policy := dmarc
		if own, err := ParseDMARC(policies[l]); err == nil && own.P != "" {
			policy = own.Record()
		}
		out = append(out,
			dnsserver.Record{Name: bounce, RR: &dns.MX{Hdr: dns.RR_Header{Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300}, Preference: 10, Mx: dns.Fqdn(mx)}},
			txt(bounce, 300, "v=spf1 include:spf."+p+" -all"),
			txt(l+".dmarc."+p, 300, policy),
		)
	}
	return out
}
