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
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// storeZone serves what the store publishes, as serve wires it.
type storeZone struct {
	st  store.Store
	cfg sending.ZoneConfig
}

func (z storeZone) VerificationTargets(ctx context.Context) ([]string, error) {
	return z.st.VerificationTargets(ctx)
}

func (z storeZone) ExtraRecords(ctx context.Context) ([]dnsserver.Record, error) {
	keys, err := z.st.PublishedDKIM(ctx)
	if err != nil {
		return nil, err
	}
	labels, err := z.st.SendingLabels(ctx)
	return sending.ZoneRecords(z.cfg, keys, labels), err
}

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
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, _ := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{now: start}
	r := dkim.DefaultRotation
	m := &Monitor{Store: st, Policy: DefaultPolicy, Now: clk.Now, Log: quiet, Box: box, Rotation: r, Platform: "waymark.localhost"}

	st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: start}, "h")
	d := store.SendingDomain{ID: "sd_1", ClusterID: "cl_a", Name: "example.com", Label: "l1", ClickHost: "clicks.example.com",
		BounceHost: "bounce.example.com", ClickDomainID: "td_c", Algorithms: []string{"rsa", "ed25519"}, Status: domain.StatusActive,
		CreatedAt: start, UpdatedAt: start}
	rot := map[string]dkim.KeyState{}
	var keys []store.DKIMKey
	for _, alg := range d.Algorithms {
		rot[alg] = r.NewKeyState(start)
		for slot := range 2 {
			k, err := sending.NewKey(box, "sd_1", alg, slot, start)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	sending.SetRotations(&d, rot, r)
	click := store.TrackingDomain{ID: "td_c", ClusterID: "cl_a", Name: "clicks.example.com", Target: "v-c", Status: domain.StatusPending, CreatedAt: start, UpdatedAt: start}
	if err := st.CreateSendingDomain(ctx, d, keys, click); err != nil {
		t.Fatal(err)
	}

	zc := dnsserver.Config{Platform: "waymark.localhost", EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	dnsSrv := dnsserver.NewServer(dnsserver.Build(zc, 0, nil, nil), quiet, nil)
	addr, err := dnsSrv.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	src := storeZone{st: st, cfg: sending.ZoneConfig{Platform: "waymark.localhost"}}
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
