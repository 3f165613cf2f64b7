package monitor

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/sending/sendingtest"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
)

// TestYearOfRotationThroughTheStore runs the monitor's key schedule hour by
// hour for a year on a real store, with a forced rotation thrown in, and
// checks at every hour that the key that would sign is the key the zone
// publishes under the selector named in the signature, and that it was
// published at least 72 hours before it signs.
func TestYearOfRotationThroughTheStore(t *testing.T) {
	ctx := context.Background()
	st, m, clk, box := sendingFixture(t, []string{"ed25519"})
	start, r := clk.Now(), m.Rotation
	switches, lastSelector := 0, ""
	for hour := 1; hour <= 365*24; hour++ {
		clk.Advance(time.Hour)
		if hour == 200*24 { // an operator forces one
			if _, err := m.RotateKeys(ctx, "cl_a", "sd_1", true); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := m.runSending(ctx); err != nil {
			t.Fatal(err)
		}
		cur, err := st.SendingDomain(ctx, "cl_a", "sd_1")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := st.DKIMKeys(ctx, "sd_1")
		if err != nil {
			t.Fatal(err)
		}
		signers, err := sending.SigningKeys(box, cur, stored)
		if err != nil || len(signers) != 1 {
			t.Fatalf("hour %d: signing keys %v %v", hour, signers, err)
		}
		txt, err := dkim.TXT(signers[0].Signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		published, err := st.PublishedDKIM(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var served string
		var publishedAt time.Time
		for _, p := range published {
			if dkim.Algorithm(p.Algorithm).Selectors()[p.Slot] == signers[0].Selector {
				served = p.TXT
			}
		}
		for _, k := range stored {
			if k.TXT == txt {
				publishedAt = k.PublishedAt
			}
		}
		if served != txt {
			t.Fatalf("hour %d: selector %s serves a different key than the one that signs", hour, signers[0].Selector)
		}
		if clk.Now().Sub(publishedAt) < r.PrePublish && !publishedAt.Equal(start) {
			t.Fatalf("hour %d: key signs %v after it was published", hour, clk.Now().Sub(publishedAt))
		}
		if signers[0].Selector != lastSelector {
			switches++
			lastSelector = signers[0].Selector
		}
	}
	if switches < 12 || switches > 15 {
		t.Fatalf("%d selector changes in a year", switches)
	}
}

// sendingFixture is a real store with cluster cl_a and its active sending
// domain sd_1 (example.com, label l1) for the algorithms, keys made at the
// fake clock's start, and a monitor running the default key schedule.
func sendingFixture(t *testing.T, algs []string) (store.Store, *Monitor, *testenv.Clock, *secret.Box) {
	t.Helper()
	ctx := context.Background()
	st := storetest.SQLite(t)
	box, err := secret.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := testenv.NewClock(start)
	r := dkim.DefaultRotation
	m := &Monitor{Store: st, Policy: DefaultPolicy, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Box: box, Rotation: r, Platform: "waymark.localhost"}
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: start}, "h"); err != nil {
		t.Fatal(err)
	}
	sendingtest.Domain(t, st, box, "cl_a", "sd_1", "l1", "example.com", domain.StatusActive, algs, start)
	return st, m, clk, box
}
