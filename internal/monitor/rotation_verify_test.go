package monitor

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestSignaturesVerifyAcrossRotation: python3-dkim, reading keys through
// Unbound and waymark's DNS, verifies mail signed before a rotation, mail
// signed after it, and (while it is still in flight) mail signed with the
// retired key — for RSA and Ed25519.
func TestSignaturesVerifyAcrossRotation(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import dkim, dns.resolver, nacl").Run(); err != nil {
		testenv.Missing(t, "python3-dkim with dnspython and nacl", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, m, clk, box := sendingFixture(t, []string{"rsa", "ed25519"})
	d, _ := st.SendingDomain(ctx, "cl_a", "sd_1")
	zc := dnsserver.Config{Platform: "waymark.localhost", EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	dnsSrv := dnsserver.NewServer(dnsserver.Build(zc, 0, nil, nil), quiet, nil)
	addr, err := dnsSrv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := sending.ZoneSource{Store: st, Config: sending.ZoneConfig{Platform: "waymark.localhost"}}
	reload := func() {
		serial, _ := st.ZoneSerial(ctx)
		if err := dnsSrv.Reload(ctx, src, zc, serial); err != nil {
			t.Fatal(err)
		}
	}
	reload()
	u := testenv.StartUnbound(t, "waymark.localhost", addr.String(), "example.com")
	var cnames []string
	for _, alg := range d.Algorithms {
		for _, sel := range dkim.Algorithm(alg).Selectors() {
			cnames = append(cnames, sel+"._domainkey.example.com. 300 IN CNAME "+sending.DKIMTarget(sel, "l1", "waymark.localhost")+".")
		}
	}
	u.Set(cnames...)
	port := u.Addr[strings.LastIndexByte(u.Addr, ':')+1:]

	sign := func() (string, []string) {
		cur, _ := st.SendingDomain(ctx, "cl_a", "sd_1")
		stored, _ := st.DKIMKeys(ctx, "sd_1")
		ks, err := sending.SigningKeys(box, cur, stored)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		msg := "From: news@example.com\r\nTo: ann@example.org\r\nSubject: Hi\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\nHello.\r\n"
		if err := dkim.Sign(&out, strings.NewReader(msg), "example.com", ks); err != nil {
			t.Fatal(err)
		}
		var sels []string
		for _, k := range ks {
			sels = append(sels, k.Selector)
		}
		return out.String(), sels
	}
	verify := func(when, msg string) {
		t.Helper()
		u.Flush("waymark.localhost")
		cmd := exec.Command(py, "../dkim/testdata/dkimpy_verify.py", port)
		cmd.Stdin = strings.NewReader(msg)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: python3-dkim rejects the signatures: %v\n%s", when, err, out)
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
	if strings.Join(selsAfter, ",") == strings.Join(selsBefore, ",") {
		t.Fatalf("signing did not move: %v", selsAfter)
	}
	verify("after rotation", after)
	verify("mail signed with the retired keys, still in flight", before)
}
