package sending

import (
	"crypto"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

func TestCustomerRecords(t *testing.T) {
	d := store.SendingDomain{Name: "example.com", Label: "0123abcd", ClickHost: "clicks.example.com", BounceHost: "bounce.example.com",
		ClickDomainID: "td_1", Algorithms: []string{"rsa", "ed25519"}}
	recs := CustomerRecords(d, "waymark.localhost", "v-0000000000000001.track.waymark.localhost")
	var got []string
	for _, r := range recs {
		got = append(got, r.Name+" "+r.Type+" "+r.Value)
	}
	want := []string{
		"wm1._domainkey.example.com CNAME wm1.0123abcd.dkim.waymark.localhost",
		"wm2._domainkey.example.com CNAME wm2.0123abcd.dkim.waymark.localhost",
		"wme1._domainkey.example.com CNAME wme1.0123abcd.dkim.waymark.localhost",
		"wme2._domainkey.example.com CNAME wme2.0123abcd.dkim.waymark.localhost",
		"bounce.example.com CNAME 0123abcd.bounce.waymark.localhost",
		"_dmarc.example.com CNAME 0123abcd.dmarc.waymark.localhost",
		"clicks.example.com CNAME v-0000000000000001.track.waymark.localhost",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if recs[0].Kind != KindDKIM || recs[4].Kind == KindDKIM || recs[0].Purpose() != "dkim (rsa, selector 1)" {
		t.Fatalf("kinds: %+v", recs)
	}
}

func TestZoneRecords(t *testing.T) {
	long := "v=DKIM1; k=rsa; p=" + strings.Repeat("A", 392)
	recs := ZoneRecords(ZoneConfig{Platform: "waymark.localhost", SendingIPs: []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")},
		MXIPs: []netip.Addr{netip.MustParseAddr("192.0.2.26")}},
		[]store.PublishedKey{{Label: "l1", Algorithm: "rsa", Slot: 0, TXT: long}, {Label: "l1", Algorithm: "ed25519", Slot: 1, TXT: "v=DKIM1; k=ed25519; p=xyz"}},
		[]string{"l1", "l2"}, map[string]string{"l2": `{"p":"reject","pct":50,"rua":["mailto:dmarc@acme.example"]}`})
	z := dnsserver.Build(dnsserver.Config{Platform: "waymark.localhost"}, 1, nil, recs)
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"wm1.l1.dkim.waymark.localhost.", dns.TypeTXT, `"v=DKIM1; k=rsa; p=AAAA`},
		{"wme2.l1.dkim.waymark.localhost.", dns.TypeTXT, `"v=DKIM1; k=ed25519; p=xyz"`},
		{"l1.bounce.waymark.localhost.", dns.TypeMX, "10 mx.waymark.localhost."},
		{"l1.bounce.waymark.localhost.", dns.TypeTXT, `"v=spf1 include:spf.waymark.localhost -all"`},
		{"l1.dmarc.waymark.localhost.", dns.TypeTXT, `"v=DMARC1; p=none; adkim=r; aspf=r"`},
		{"l2.dmarc.waymark.localhost.", dns.TypeTXT, `"v=DMARC1; p=reject; pct=50; rua=mailto:dmarc@acme.example"`},
		{"spf.waymark.localhost.", dns.TypeTXT, `"v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 -all"`},
		{"mx.waymark.localhost.", dns.TypeA, "192.0.2.26"},
	} {
		res, rrs := z.Lookup(tc.name, tc.qtype)
		if res != dnsserver.Answer || !strings.Contains(rrs[0].String(), tc.want) {
			t.Errorf("%s %s: %v %v", tc.name, dns.TypeToString[tc.qtype], res, rrs)
		}
	}
	// The 2048-bit-sized key is split into 255-byte strings.
	_, rrs := z.Lookup("wm1.l1.dkim.waymark.localhost.", dns.TypeTXT)
	if parts := rrs[0].(*dns.TXT).Txt; len(parts) != 2 || len(parts[0]) != 255 || strings.Join(parts, "") != long {
		t.Fatalf("split: %d parts", len(parts))
	}
	if res, _ := z.Lookup("wm2.l1.dkim.waymark.localhost.", dns.TypeTXT); res != dnsserver.NXDomain {
		t.Fatalf("unpublished slot: %v", res)
	}
}

// TestTooLong: a domain whose longest record (the Ed25519 selectors'
// wme2._domainkey.<name>, or a long click host) passes 253 octets is found.
func TestTooLong(t *testing.T) {
	name := func(n int) string { // n octets: labels of 60 and one of the rest, ending in .com
		s := ""
		for len(s)+61 < n-4 {
			s += strings.Repeat("a", 60) + "."
		}
		return s + strings.Repeat("b", n-4-len(s)) + ".com"
	}
	for _, tc := range []struct {
		n       int
		algs    []string
		click   string
		tooLong bool
	}{
		{237, []string{"rsa", "ed25519"}, "clicks", false}, // wme2._domainkey. is 16: 253
		{238, []string{"rsa", "ed25519"}, "clicks", true},
		{238, []string{"rsa"}, "clicks", false}, // wm2._domainkey. is 15
		{239, []string{"rsa"}, "clicks", true},
		{230, []string{"rsa"}, strings.Repeat("c", 30), true}, // the click host is the longest
	} {
		n := name(tc.n)
		if len(n) != tc.n {
			t.Fatalf("name of %d octets is %d", tc.n, len(n))
		}
		d := store.SendingDomain{Name: n, Label: "0123456789abcdef", Algorithms: tc.algs, ClickHost: tc.click + "." + n, BounceHost: "bounce." + n}
		got := TooLong(d, "waymark.localhost", "v-0000000000000001.track.waymark.localhost")
		if (got != "") != tc.tooLong || (got != "" && len(got) <= MaxName) {
			t.Errorf("%d octets, %v, click %s: TooLong = %q", tc.n, tc.algs, tc.click, got)
		}
	}
}

// TestSPF: addresses, then the operator's names, then -all; a long record
// goes out in strings of at most 255 octets that join back to it.
func TestSPF(t *testing.T) {
	ips := []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")}
	if got := SPF(ips, []string{"_spf.operator.net"}); got != "v=spf1 ip4:192.0.2.25 ip6:2001:db8::25 include:_spf.operator.net -all" {
		t.Fatalf("SPF = %q", got)
	}
	if got := SPF(nil, []string{"_spf.a.example", "_spf.b.example"}); got != "v=spf1 include:_spf.a.example include:_spf.b.example -all" {
		t.Fatalf("includes only: %q", got)
	}
	var many []netip.Addr
	for i := range 40 {
		many = append(many, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	rec := SPF(many, nil)
	recs := ZoneRecords(ZoneConfig{Platform: "waymark.localhost", SendingIPs: many}, nil, nil, nil)
	txt := recs[0].RR.(*dns.TXT)
	if recs[0].Name != "spf.waymark.localhost" || len(txt.Txt) < 2 || strings.Join(txt.Txt, "") != rec {
		t.Fatalf("a %d-octet record served as %q", len(rec), txt.Txt)
	}
	for _, s := range txt.Txt {
		if len(s) > 255 {
			t.Fatalf("a string of %d octets", len(s))
		}
	}
}

// TestKeygenBounded: however many keys are asked for at once, no more are
// made at the same time than keygen allows (half the cores).
func TestKeygenBounded(t *testing.T) {
	var running, peak atomic.Int32
	real := generate
	t.Cleanup(func() { generate = real })
	generate = func(a dkim.Algorithm) (crypto.Signer, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		return real(dkim.Ed25519)
	}
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := NewKey(box, fmt.Sprintf("sd_%d", i), "ed25519", 0, time.Now()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := int(peak.Load()); p > cap(keygen) || p < 1 {
		t.Fatalf("%d keys made at once, bound %d", p, cap(keygen))
	}
}
