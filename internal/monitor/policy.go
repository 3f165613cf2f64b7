package monitor

import (
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/event"
)

// Outcome is what one check found.
type Outcome int

const (
	// Pass: the CNAME chain ends at the domain's target.
	Pass Outcome = iota
	// Fail: a definite answer that the chain is wrong or missing.
	Fail
	// Transient: the check could not be made (resolver failure).
	Transient
)

// Change is what a check changed that the cluster must hear of.
type Change int

const (
	// Unchanged: nothing to notify.
	Unchanged Change = iota
	// Verified: a pending domain passed and is now active.
	Verified
	// Warned: an active domain failed its first check; it stays active.
	Warned
	// Deactivated: a second consecutive failure made it pending.
	Deactivated
)

// Notice is the notification of a change to a tracking domain (sending
// false) or a sending domain, or "" for Unchanged.
func (c Change) Notice(sending bool) event.Notice {
	switch {
	case c == Verified && sending:
		return event.SendingVerified
	case c == Verified:
		return event.TrackingVerified
	case c == Warned && sending:
		return event.SendingCheckFailed
	case c == Warned:
		return event.TrackingCheckFailed
	case c == Deactivated && sending:
		return event.SendingDeactivated
	case c == Deactivated:
		return event.TrackingDeactivated
	}
	return ""
}

// Strikes is the number of consecutive failed checks that deactivate.
const Strikes = 2

// Policy holds the schedule's parameters.
type Policy struct {
	// Interval between checks of an active domain (--recheck-interval).
	Interval time.Duration
	// PendingWindow is how long after adding a pending domain is checked
	// without being asked.
	PendingWindow time.Duration
	// TransientRetry is the wait after a transient failure.
	TransientRetry time.Duration
}

// DefaultPolicy is the schedule of docs/CONCEPTS.md#monitoring: daily, 72 hours of back-off for
// new domains, five minutes after a resolver failure.
var DefaultPolicy = Policy{Interval: 24 * time.Hour, PendingWindow: 72 * time.Hour, TransientRetry: 5 * time.Minute}

// State is what the policy needs to know of a domain.
type State struct {
	Status       domain.Status
	FailedChecks int
	CreatedAt    time.Time
}

// Decision is what follows from a check.
type Decision struct {
	Status       domain.Status
	FailedChecks int
	// Change is what to notify, if anything.
	Change Change
	// NextCheck is when to check again; zero means only on request.
	NextCheck time.Time
}

// Decide applies the two-strike policy to one check's outcome.
func (p Policy) Decide(s State, o Outcome, now time.Time) Decision {
	d := Decision{Status: s.Status, FailedChecks: s.FailedChecks}
	switch {
	case o == Transient:
		// Never a strike, never a pass: try again soon, as long as the
		// domain is one the monitor watches at all.
		if s.Status == domain.StatusActive || p.PendingNext(s.CreatedAt, now) != (time.Time{}) {
			d.NextCheck = now.Add(p.TransientRetry)
		}
	case o == Pass:
		if s.Status != domain.StatusActive {
			d.Change = Verified
		}
		d.Status, d.FailedChecks = domain.StatusActive, 0
		d.NextCheck = now.Add(p.Interval)
	case s.Status == domain.StatusActive:
		d.FailedChecks = s.FailedChecks + 1
		d.NextCheck = now.Add(p.Interval)
		d.Change = Warned
		if d.FailedChecks >= Strikes {
			d.Status, d.Change = domain.StatusPending, Deactivated
			d.NextCheck = time.Time{} // back to pending: checked on request
		}
	default: // a pending domain that still fails
		d.FailedChecks = s.FailedChecks + 1
		d.NextCheck = p.PendingNext(s.CreatedAt, now)
	}
	return d
}

// backoff is the pending schedule: until a domain is the given age, wait
// this long between checks. The customer is most likely to add the CNAME
// in the first minutes, so checks start often and thin out.
var backoff = []struct{ age, wait time.Duration }{
	{10 * time.Minute, time.Minute},
	{time.Hour, 5 * time.Minute},
	{6 * time.Hour, 15 * time.Minute},
	{24 * time.Hour, time.Hour},
}

// PendingNext is when a pending domain added at created is checked next
// after now: on the back-off schedule inside PendingWindow, zero (only on
// request) after it.
func (p Policy) PendingNext(created, now time.Time) time.Time {
	age := now.Sub(created)
	if age >= p.PendingWindow {
		return time.Time{}
	}
	wait := 3 * time.Hour
	for _, b := range backoff {
		if age < b.age {
			wait = b.wait
			break
		}
	}
	next := now.Add(wait)
	if end := created.Add(p.PendingWindow); next.After(end) {
		next = end // one last check as the window closes
	}
	return next
}
