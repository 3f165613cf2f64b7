package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/dnsserver"
	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
	"github.com/waymark-mail/waymark/internal/verify"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// recorder collects notifications.
type recorder struct {
	mu     sync.Mutex
	events []event.Notice
}

func (r *recorder) notify(_ context.Context, n Notification) {
	r.mu.Lock()
	r.events = append(r.events, n.Event)
	r.mu.Unlock()
}

func (r *recorder) take() []event.Notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestTwoStrikesThroughRealDNS runs days of the monitor against a real
// store, waymark's DNS following it, and Unbound as the customers' DNS.
func TestTwoStrikesThroughRealDNS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	zc := dnsserver.Config{Platform: "waymark.localhost", EdgeIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	dns := dnsserver.NewServer(dnsserver.Build(zc, 0, nil, nil), quiet, nil)
	addr, err := dns.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	poke := make(chan struct{}, 1)
	go store.Watch(ctx, st, 50*time.Millisecond, poke, func(ctx context.Context, serial int64) error {
		return dns.Reload(ctx, targetsOnly{st}, zc, serial)
	})
	u := testenv.StartUnbound(t, "waymark.localhost", addr.String(), "acme-mail.com")

	clk := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	m := &Monitor{Store: st, Checker: &verify.Verifier{Resolver: &verify.DNSResolver{Addr: u.Addr}, Platform: "waymark.localhost"},
		Policy: DefaultPolicy, Now: clk.Now, Notify: rec.notify, Log: quiet,
		// A notice's body, queued with the check: the domain as it became.
		Render: func(n Notification) ([]byte, error) {
			return []byte(fmt.Sprintf("%s %s %s", n.Event, n.Domain.Name, n.Domain.Status)), nil
		}}

	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: clk.Now()}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWebhook(ctx, store.Webhook{ID: "wh_1", ClusterID: "cl_a", URL: "https://hooks.acme.example/", Events: []string{"*"},
		Secret: "s", CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	// queued takes the notices queued for the webhook since the last call.
	queued := func() []string {
		t.Helper()
		ds, err := st.ClaimDeliveries(ctx, clk.Now().Add(time.Hour), time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range ds {
			out = append(out, string(d.Payload))
			if err := st.FinishDelivery(ctx, d, store.Attempt{Status: "delivered", Code: 200, At: clk.Now()}, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	d := store.TrackingDomain{ID: "td_1", ClusterID: "cl_a", Name: "track.acme-mail.com", Target: "v-00000000000000aa.track.waymark.localhost",
		Status: domain.StatusPending, DefaultOnActive: true, CreatedAt: clk.Now(), UpdatedAt: clk.Now(), NextCheck: m.FirstCheck(clk.Now())}
	if err := st.CreateTrackingDomain(ctx, d, store.Limits{}); err != nil {
		t.Fatal(err)
	}
	poke <- struct{}{}

	step := func(advance time.Duration, wantChecked int, wantStatus domain.Status, wantFailed int, wantEvents ...event.Notice) store.TrackingDomain {
		t.Helper()
		clk.Advance(advance)
		n, err := m.RunOnce(ctx)
		if err != nil || n != wantChecked {
			t.Fatalf("at +%v: checked %d (%v), want %d", advance, n, err, wantChecked)
		}
		got, err := st.TrackingDomain(ctx, "cl_a", "td_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != wantStatus || got.FailedChecks != wantFailed || fmt.Sprint(rec.take()) != fmt.Sprint(wantEvents) {
			t.Fatalf("at %v: %s failed=%d (last %+v); want %s failed=%d events %v",
				clk.Now(), got.Status, got.FailedChecks, got.LastCheck, wantStatus, wantFailed, wantEvents)
		}
		var want []string
		for _, e := range wantEvents {
			want = append(want, fmt.Sprintf("%s track.acme-mail.com %s", e, wantStatus))
		}
		if q := queued(); fmt.Sprint(q) != fmt.Sprint(want) {
			t.Fatalf("at %v: queued %q, want %q", clk.Now(), q, want)
		}
		return got
	}
	// Not due yet: nothing is checked.
	step(30*time.Second, 0, domain.StatusPending, 0)
	// No CNAME: the back-off checks fail quietly.
	step(30*time.Second, 1, domain.StatusPending, 1)
	step(time.Minute, 1, domain.StatusPending, 2)
	// The customer publishes the CNAME: the next back-off check verifies.
	u.Set("track.acme-mail.com. 300 IN CNAME v-00000000000000aa.track.waymark.localhost.")
	got := step(time.Minute, 1, domain.StatusActive, 0, event.TrackingVerified)
	if !got.Default {
		t.Fatal("added with default: true, verified, but not the default")
	}
	// Daily checks pass.
	step(23*time.Hour, 0, domain.StatusActive, 0)
	step(time.Hour, 1, domain.StatusActive, 0)
	// The record is removed: first strike warns, the domain stays active.
	u.Remove("track.acme-mail.com")
	got = step(24*time.Hour, 1, domain.StatusActive, 1, event.TrackingCheckFailed)
	if got.LastCheck == nil || got.LastCheck.OK || got.LastCheck.Code != "no_record" || !got.Default {
		t.Fatalf("first strike: %+v", got)
	}
	// Second strike: pending, default flag gone, no more scheduled checks.
	got = step(24*time.Hour, 1, domain.StatusPending, 2, event.TrackingDeactivated)
	if got.Default || !got.NextCheck.IsZero() {
		t.Fatalf("after deactivation: default=%v next=%v", got.Default, got.NextCheck)
	}
	step(30*24*time.Hour, 0, domain.StatusPending, 2)
	// Fixed and verified on request: active again, count reset.
	u.Set("track.acme-mail.com. 300 IN CNAME v-00000000000000aa.track.waymark.localhost.")
	got, err = m.CheckTrackingDomain(ctx, "cl_a", "td_1")
	if err != nil || got.Status != domain.StatusActive || got.FailedChecks != 0 {
		t.Fatalf("manual verify: %+v %v", got, err)
	}
	if ev := rec.take(); fmt.Sprint(ev) != fmt.Sprint([]event.Notice{event.TrackingVerified}) {
		t.Fatalf("events %v", ev)
	}
	if q := queued(); fmt.Sprint(q) != "[tracking_domain.verified track.acme-mail.com active]" {
		t.Fatalf("queued on request: %q", q)
	}
	// A flap (one failure, then back) warns once and changes nothing else.
	u.Remove("track.acme-mail.com")
	step(24*time.Hour, 1, domain.StatusActive, 1, event.TrackingCheckFailed)
	u.Set("track.acme-mail.com. 300 IN CNAME v-00000000000000aa.track.waymark.localhost.")
	step(24*time.Hour, 1, domain.StatusActive, 0)
}

// TestTransientNeverCounts points the verifier at a resolver that is not
// there: checks are retried, strikes never counted.
func TestTransientNeverCounts(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	m := &Monitor{Store: st, Policy: DefaultPolicy, Now: clk.Now, Log: quiet,
		Checker: &verify.Verifier{Resolver: &verify.DNSResolver{Addr: fmt.Sprintf("127.0.0.1:%d", port), Timeout: 100 * time.Millisecond}, Platform: "waymark.localhost"}}
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: clk.Now()}, "h"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTrackingDomain(ctx, store.TrackingDomain{ID: "td_1", ClusterID: "cl_a", Name: "track.acme-mail.com", Target: "v-1.track.waymark.localhost",
		Status: domain.StatusPending, CreatedAt: clk.Now(), UpdatedAt: clk.Now()}, store.Limits{}); err != nil {
		t.Fatal(err)
	}
	storetest.Activate(t, st, "cl_a", "td_1")
	for range 3 {
		got, err := m.CheckTrackingDomain(ctx, "cl_a", "td_1")
		if err != nil || got.Status != domain.StatusActive || got.FailedChecks != 0 || got.LastCheck.Code != "transient" ||
			!got.NextCheck.Equal(clk.Now().Add(DefaultPolicy.TransientRetry)) {
			t.Fatalf("transient check: %+v %v", got, err)
		}
	}
}

// targetsOnly serves the store's verification targets and nothing else.
type targetsOnly struct{ store.Store }

func (targetsOnly) ExtraRecords(context.Context) ([]dnsserver.Record, error) { return nil, nil }
