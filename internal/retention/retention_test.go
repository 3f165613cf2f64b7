package retention

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
)

// TestRunnerWithFakeClock: as the fake clock moves on, events older than
// the retention go and newer ones stay; with the lock taken elsewhere the
// runner does nothing; a retention of 0 keeps everything.
func TestRunnerWithFakeClock(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: time.Now()}, "h"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	var evs []store.Event
	for d := range 10 { // one event a day for ten days
		at := t0.Add(time.Duration(d) * 24 * time.Hour)
		evs = append(evs, store.Event{ID: store.NewEventID(at), ClusterID: "cl_a", Type: event.Click, At: at, MessageID: at.Format("Jan 2")})
	}
	if err := st.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	clock := t0.Add(10 * 24 * time.Hour)
	r := New(st, 5*24*time.Hour, 0, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	r.Now = func() time.Time { return clock }
	left := func() int {
		got, err := st.Events(ctx, "cl_a", store.EventQuery{})
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	// Another node holds the lock: nothing happens.
	unlock, ok, err := st.TryLock(ctx, "event-retention")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if ran, err := r.RunOnce(ctx); ran || err != nil || left() != 10 {
		t.Fatalf("ran %v (%v) with the lock held elsewhere; %d left", ran, err, left())
	}
	unlock()
	if ran, err := r.RunOnce(ctx); !ran || err != nil || left() != 5 {
		t.Fatalf("ran %v %v: %d events left, want the last 5 days'", ran, err, left())
	}
	clock = clock.Add(3 * 24 * time.Hour)
	if _, err := r.RunOnce(ctx); err != nil || left() != 2 {
		t.Fatalf("three days later %d left (%v), want 2", left(), err)
	}
	r.Events = 0
	clock = clock.Add(365 * 24 * time.Hour)
	if ran, _ := r.RunOnce(ctx); ran || left() != 2 {
		t.Fatalf("retention 0 removed events: %d left", left())
	}
	// The rollups outlive the events, and go after their own retention.
	hours := func() int {
		rows, err := st.Stats(ctx, "cl_a", store.StatsQuery{From: t0, To: t0.Add(20 * 24 * time.Hour), Day: true})
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	if hours() != 10 {
		t.Fatalf("%d days of rollups, want the 10 of the events, removed or not", hours())
	}
	r.Stats = 365*24*time.Hour + 10*24*time.Hour // the clock is 378 days after the first
	if _, err := r.RunOnce(ctx); err != nil || hours() != 7 {
		t.Fatalf("stats retention: %d days left (%v), want 7", hours(), err)
	}
}
