package monitor

import (
	"slices"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	p := DefaultPolicy
	active, pending := domain.StatusActive, domain.StatusPending
	created := t0.Add(-time.Hour * 100) // past the pending window
	fresh := t0.Add(-2 * time.Minute)   // inside it
	for _, tc := range []struct {
		name   string
		in     State
		o      Outcome
		status domain.Status
		failed int
		change Change
		next   time.Duration // from t0; -1 for none
	}{
		{"active passes", State{active, 0, created}, Pass, active, 0, Unchanged, 24 * time.Hour},
		{"active first strike", State{active, 0, created}, Fail, active, 1, Warned, 24 * time.Hour},
		{"active second strike", State{active, 1, created}, Fail, pending, 2, Deactivated, -1},
		{"pass resets the count", State{active, 1, created}, Pass, active, 0, Unchanged, 24 * time.Hour},
		{"transient on active changes nothing", State{active, 1, created}, Transient, active, 1, Unchanged, 5 * time.Minute},
		{"transient never a strike", State{active, 0, created}, Transient, active, 0, Unchanged, 5 * time.Minute},
		{"pending passes", State{pending, 3, fresh}, Pass, active, 0, Verified, 24 * time.Hour},
		{"old pending passes on request", State{pending, 0, created}, Pass, active, 0, Verified, 24 * time.Hour},
		{"fresh pending fails: back-off", State{pending, 0, fresh}, Fail, pending, 1, Unchanged, time.Minute},
		{"old pending fails: on request only", State{pending, 5, created}, Fail, pending, 6, Unchanged, -1},
		{"fresh pending transient", State{pending, 0, fresh}, Transient, pending, 0, Unchanged, 5 * time.Minute},
		{"old pending transient", State{pending, 0, created}, Transient, pending, 0, Unchanged, -1},
		{"deactivated stays pending on failure", State{pending, 2, created}, Fail, pending, 3, Unchanged, -1},
	} {
		d := p.Decide(tc.in, tc.o, t0)
		want := time.Time{}
		if tc.next >= 0 {
			want = t0.Add(tc.next)
		}
		if d.Status != tc.status || d.FailedChecks != tc.failed || d.Change != tc.change || !d.NextCheck.Equal(want) {
			t.Errorf("%s: got %+v; want status %s failed %d change %d next %v", tc.name, d, tc.status, tc.failed, tc.change, want)
		}
	}
}

func TestPendingNext(t *testing.T) {
	p := DefaultPolicy
	for _, tc := range []struct {
		age, wait time.Duration // wait -1: none
	}{
		{0, time.Minute},
		{9 * time.Minute, time.Minute},
		{10 * time.Minute, 5 * time.Minute},
		{59 * time.Minute, 5 * time.Minute},
		{time.Hour, 15 * time.Minute},
		{5 * time.Hour, 15 * time.Minute},
		{6 * time.Hour, time.Hour},
		{23 * time.Hour, time.Hour},
		{24 * time.Hour, 3 * time.Hour},
		{70 * time.Hour, 2 * time.Hour}, // clipped to the window's end
		{72*time.Hour - time.Second, time.Second},
		{72 * time.Hour, -1},
		{200 * time.Hour, -1},
	} {
		got := p.PendingNext(t0.Add(-tc.age), t0)
		want := time.Time{}
		if tc.wait >= 0 {
			want = t0.Add(tc.wait)
		}
		if !got.Equal(want) {
			t.Errorf("age %v: next %v, want %v", tc.age, got, want)
		}
	}
}

// TestPendingScheduleCount walks the whole 72 hours: the schedule ends, and
// a pending domain is checked a bounded number of times.
func TestPendingScheduleCount(t *testing.T) {
	p := DefaultPolicy
	now, n := t0, 0
	for next := p.PendingNext(t0, now); !next.IsZero(); next = p.PendingNext(t0, now) {
		if !next.After(now) {
			t.Fatalf("schedule does not advance at %v", now)
		}
		now = next
		n++
	}
	// 10 + 10 + 20 + 18 + 16 checks in the five bands.
	if n != 74 || !now.Equal(t0.Add(72*time.Hour)) {
		t.Fatalf("%d checks, last at +%v", n, now.Sub(t0))
	}
}

// TestChangeNotice: each change names its notice for either kind of domain.
func TestChangeNotice(t *testing.T) {
	for _, tc := range []struct {
		c        Change
		tracking event.Notice
		sending  event.Notice
	}{
		{Unchanged, "", ""},
		{Verified, event.TrackingVerified, event.SendingVerified},
		{Warned, event.TrackingCheckFailed, event.SendingCheckFailed},
		{Deactivated, event.TrackingDeactivated, event.SendingDeactivated},
	} {
		if got := tc.c.Notice(false); got != tc.tracking {
			t.Errorf("%d.Notice(false) = %q, want %q", tc.c, got, tc.tracking)
		}
		if got := tc.c.Notice(true); got != tc.sending {
			t.Errorf("%d.Notice(true) = %q, want %q", tc.c, got, tc.sending)
		}
	}
}

// TestNoticesSubscribable: every notice the monitor sends can be
// subscribed to by a webhook.
func TestNoticesSubscribable(t *testing.T) {
	for _, c := range []Change{Verified, Warned, Deactivated} {
		for _, sending := range []bool{false, true} {
			if n := c.Notice(sending); !slices.Contains(event.Names(), string(n)) {
				t.Errorf("%s is not subscribable", n)
			}
		}
	}
	if !slices.Contains(event.Names(), string(event.TrackingDeleted)) {
		t.Error("tracking_domain.deleted is not subscribable")
	}
}
