package monitor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestSignaturesVerifyAcrossRotation: python3-dkim's dkimverify and
// OpenDKIM's opendkim-testmsg, reading keys through Unbound and waymark's
// DNS, verify mail signed before a rotation, mail signed after it, and
// (while it is still in flight) mail signed with the retired key, for RSA
// and Ed25519.
func TestSignaturesVerifyAcrossRotation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, m, clk, box := sendingFixture(t, []string{"rsa", "ed25519"})
	d, err := st.SendingDomain(ctx, "cl_a", "sd_1")
	if err != nil {
		t.Fatal(err)
	}
	zc := dnsserver.Config{Platform: "waymark.localhost", EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	dnsSrv := dnsserver.NewServer(dnsserver.Build(zc, 0, nil, nil), quiet, nil)
	addr, err := dnsSrv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := sending.ZoneSource{Store: st, Config: sending.ZoneConfig{Platform: "waymark.localhost"}}
	reload := func() {
		serial, err := st.ZoneSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := dnsSrv.Reload(ctx, src, zc, serial); err != nil {
			t.Fatal(err)
		}
	}
	reload()
	u := testenv.StartUnboundForLibc(t, "waymark.localhost", addr.String(), "example.com")
	var cnames []string
	for _, alg := range d.Algorithms {
		for _, sel := range dkim.Algorithm(alg).Selectors() {
			cnames = append(cnames, sel+"._domainkey.example.com. 300 IN CNAME "+sending.DKIMTarget(sel, "l1", "waymark.localhost")+".")
		}
	}
	u.Set(cnames...)

	// sign returns the message signed by each current key on its own, so
	// that OpenDKIM, which reports on a message as a whole, checks each.
	sign := func() (map[string]string, []string) {
		cur, err := st.SendingDomain(ctx, "cl_a", "sd_1")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := st.DKIMKeys(ctx, "sd_1")
		if err != nil {
			t.Fatal(err)
		}
		ks, err := sending.SigningKeys(box, cur, stored)
		if err != nil {
			t.Fatal(err)
		}
		msgs := map[string]string{}
		var sels []string
		for _, k := range ks {
			var out bytes.Buffer
			msg := "From: news@example.com\r\nTo: ann@example.org\r\nSubject: Hi\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nHello.\r\n"
			if err := dkim.Sign(&out, strings.NewReader(msg), "example.com", []dkim.Key{k}); err != nil {
				t.Fatal(err)
			}
			msgs[k.Selector] = out.String()
			sels = append(sels, k.Selector)
		}
		return msgs, sels
	}
	verify := func(when string, msgs map[string]string) {
		t.Helper()
		u.Flush("waymark.localhost")
		for sel, msg := range msgs {
			for name, err := range u.VerifyDKIM(t, msg) {
				if err != nil {
					t.Fatalf("%s: %s rejects the signature by %s: %v", when, name, sel, err)
				}
			}
		}
	}
	before, selsBefore := sign()
	verify("before rotation", before)

	// Thirty days and a bit: the next keys were published 72 h ago, and
	// signing has switched to them.
	for range 31 * 24 {
		clk.Advance(time.Hour)
		if _, err := m.runSending(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reload()
	after, selsAfter := sign()
	if len(selsAfter) != 2 || strings.Join(selsAfter, ",") == strings.Join(selsBefore, ",") {
		t.Fatalf("signing did not move: %v", selsAfter)
	}
	verify("after rotation", after)
	verify("mail signed with the retired keys, still in flight", before)
}
