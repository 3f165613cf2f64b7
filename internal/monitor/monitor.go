package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/waymark-mail/waymark/internal/dkim"
	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/sending"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/verify"
)

// Checker verifies one name against its expected target.
type Checker interface {
	Check(ctx context.Context, name, want string) verify.Result
}

// Notification is one event about a domain, for webhooks and the log.
type Notification struct {
	Event  event.Notice
	At     time.Time
	Domain store.TrackingDomain
	// Sending is set instead of Domain for sending_domain.* events, with
	// Click, its click host's tracking domain as checked with it.
	Sending   *store.SendingDomain
	Click     *store.TrackingDomain
	Diagnosis string
}

// Store is what the monitor reads and changes: the domains it checks, with
// the keys it rotates, and the lock that keeps its schedule on one node.
type Store interface {
	TrackingDomain(ctx context.Context, clusterID, id string) (store.TrackingDomain, error)
	ApplyCheck(ctx context.Context, clusterID, id string, decide func(store.TrackingDomain) store.CheckUpdate) (store.TrackingDomain, error)
	DueTrackingDomains(ctx context.Context, now time.Time, limit int) ([]store.TrackingDomain, error)
	SendingDomain(ctx context.Context, clusterID, id string) (store.SendingDomain, error)
	UpdateSendingDomain(ctx context.Context, clusterID, id string, change func(store.SendingDomain) (store.SendingDomain, []store.DKIMKey, error),
		notice func(store.SendingDomain) (*store.Notice, error)) (store.SendingDomain, error)
	DueSendingDomains(ctx context.Context, now time.Time, limit int) ([]store.SendingDomain, error)
	store.Locker
}

// Monitor checks tracking and sending domains, on request and on schedule,
// and runs the DKIM key schedule of sending domains.
type Monitor struct {
	Store Store
	// Platform is the platform domain (record targets of sending domains).
	Platform string
	Checker  Checker
	Policy   Policy
	// Now is the clock; tests replace it to run days in milliseconds.
	Now func() time.Time
	// Notify hears of every notification once its change has committed
	// (nil: none; they are logged anyway). Webhooks get them through
	// Render, not Notify.
	Notify func(context.Context, Notification)
	// Render, if set, is a notification's webhook event (its whole body):
	// the notice is then queued for the cluster's webhooks in the
	// transaction of the change it tells of, before Notify hears of it.
	Render func(Notification) ([]byte, error)
	Log    *slog.Logger
	// Workers bounds the checks run at once by RunOnce; zero means 8.
	Workers int
	// Box seals the DKIM keys the schedule makes; Rotation is the schedule.
	Box      *secret.Box
	Rotation dkim.Rotation
	// Metrics counts checks and key rotations (nil: none; NewMetrics).
	Metrics *Metrics
}

// Metrics are the monitor's counters.
type Metrics struct {
	checks    *prometheus.CounterVec
	rotations *prometheus.CounterVec
}

// NewMetrics registers the monitor's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_domain_checks_total",
			Help: "Domain checks by kind (tracking, sending) and result code (ok, no_record, transient, dkim_failed, ...).",
		}, []string{"kind", "result"}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_dkim_rotations_total",
			Help: "DKIM key schedule steps by what happened: published (a new key in the idle selector), switched (signing moved to the other selector).",
		}, []string{"step"}),
	}
	if reg != nil {
		reg.MustRegister(m.checks, m.rotations)
	}
	return m
}

func (m *Metrics) checked(kind, result string) {
	if m != nil {
		m.checks.WithLabelValues(kind, result).Inc()
	}
}

func (m *Metrics) rotated(step string, n int) {
	if m != nil && n > 0 {
		m.rotations.WithLabelValues(step).Add(float64(n))
	}
}

func (m *Monitor) now() time.Time {
	if m.Now == nil {
		return time.Now().UTC()
	}
	return m.Now()
}

func (m *Monitor) log() *slog.Logger {
	if m.Log == nil {
		return slog.Default()
	}
	return m.Log
}

// FirstCheck is when a domain added at created is first checked.
func (m *Monitor) FirstCheck(created time.Time) time.Time {
	return m.Policy.PendingNext(created, created)
}

func outcome(r verify.Result) Outcome {
	switch {
	case r.OK():
		return Pass
	case r.Transient():
		return Transient
	}
	return Fail
}

// CheckTrackingDomain verifies a domain now, records the result with the
// two-strike policy, and notifies what changed. It returns the domain as
// stored after the check.
func (m *Monitor) CheckTrackingDomain(ctx context.Context, clusterID, id string) (store.TrackingDomain, error) {
	d, err := m.Store.TrackingDomain(ctx, clusterID, id)
	if err != nil {
		return d, err
	}
	res := m.Checker.Check(ctx, d.Name, d.Target)
	now := m.now()
	var dec Decision
	after, err := m.Store.ApplyCheck(ctx, clusterID, id, func(cur store.TrackingDomain) store.CheckUpdate {
		dec = m.Policy.Decide(State{Status: cur.Status, FailedChecks: cur.FailedChecks, CreatedAt: cur.CreatedAt}, outcome(res), now)
		return store.CheckUpdate{
			Check:  store.Check{At: now, OK: res.OK(), Code: string(res.Code), Diagnosis: res.Diagnosis, Chain: res.Chain},
			Status: dec.Status, FailedChecks: dec.FailedChecks, NextCheck: dec.NextCheck,
			Notice: func(after store.TrackingDomain) (*store.Notice, error) {
				if dec.Change == Unchanged {
					return nil, nil
				}
				return m.Notice(Notification{Event: dec.Change.Notice(false), At: now, Domain: after, Diagnosis: res.Diagnosis})
			},
		}
	})
	if err != nil {
		return after, err
	}
	level := slog.LevelDebug
	if dec.Change != Unchanged || !res.OK() {
		level = slog.LevelInfo
	}
	m.Metrics.checked("tracking", string(res.Code))
	m.log().Log(ctx, level, "tracking domain checked", "cluster", clusterID, "id", id, "name", d.Name,
		"result", res.Code, "status", after.Status, "failed_checks", after.FailedChecks, "event", dec.Change.Notice(false), "diagnosis", res.Diagnosis)
	if dec.Change != Unchanged {
		m.notify(ctx, Notification{Event: dec.Change.Notice(false), At: now, Domain: after, Diagnosis: res.Diagnosis})
	}
	return after, nil
}

func (m *Monitor) notify(ctx context.Context, n Notification) {
	level := slog.LevelInfo
	if n.Event.Failure() {
		level = slog.LevelWarn
	}
	cluster, name := n.Domain.ClusterID, n.Domain.Name
	if n.Sending != nil {
		cluster, name = n.Sending.ClusterID, n.Sending.Name
	}
	m.log().Log(ctx, level, "notification", "event", n.Event, "cluster", cluster, "name", name, "diagnosis", n.Diagnosis)
	if m.Notify != nil {
		m.Notify(ctx, n)
	}
}

// Notice is n as a webhook notice to queue with the change it tells of
// (nil without Render).
func (m *Monitor) Notice(n Notification) (*store.Notice, error) {
	if m.Render == nil {
		return nil, nil
	}
	body, err := m.Render(n)
	if err != nil {
		return nil, fmt.Errorf("notice %s: %w", n.Event, err)
	}
	return &store.Notice{Event: string(n.Event), Payload: body, At: n.At}, nil
}

// Deleted is the notification of d's deletion: its Notice goes to
// DeleteTrackingDomain, and Notify hears of it once that has committed.
func (m *Monitor) Deleted(d store.TrackingDomain) Notification {
	return Notification{Event: event.TrackingDeleted, At: m.now(), Domain: d}
}

// Notified tells the log and Notify of n, a change that has committed.
func (m *Monitor) Notified(ctx context.Context, n Notification) { m.notify(ctx, n) }

// RunOnce checks every domain that is due now, a bounded number at once,
// runs the DKIM key schedules that are due, and returns how many domains
// it handled.
func (m *Monitor) RunOnce(ctx context.Context) (int, error) {
	n, err := m.runTracking(ctx)
	if err != nil {
		return n, err
	}
	s, err := m.runSending(ctx)
	return n + s, err
}

// runSending checks and rotates the sending domains that are due.
func (m *Monitor) runSending(ctx context.Context) (int, error) {
	now := m.now()
	due, err := m.Store.DueSendingDomains(ctx, now, 1000)
	if err != nil {
		return 0, err
	}
	for _, d := range due {
		if !d.RotationAt.IsZero() && !d.RotationAt.After(now) && m.Box != nil {
			if _, err := m.RotateKeys(ctx, d.ClusterID, d.ID, false); err != nil {
				m.log().Warn("key rotation failed", "id", d.ID, "name", d.Name, "err", err)
			}
		}
		if !d.NextCheck.IsZero() && !d.NextCheck.After(now) {
			if _, err := m.CheckSendingDomain(ctx, d.ClusterID, d.ID); err != nil {
				m.log().Warn("scheduled check failed", "id", d.ID, "name", d.Name, "err", err)
			}
		}
	}
	return len(due), nil
}

// RotateKeys runs a sending domain's key schedule now (force asks for a
// rotation), publishing new keys as the schedule says.
func (m *Monitor) RotateKeys(ctx context.Context, clusterID, id string, force bool) (store.SendingDomain, error) {
	now := m.now()
	published, switched := 0, 0
	d, err := m.Store.UpdateSendingDomain(ctx, clusterID, id, func(cur store.SendingDomain) (store.SendingDomain, []store.DKIMKey, error) {
		next, keys, err := sending.Rotate(m.Box, m.Rotation, cur, now, force)
		if err != nil {
			return next, keys, err
		}
		published, switched = len(keys), 0
		before, _ := sending.Rotations(cur)
		after, _ := sending.Rotations(next)
		for alg, k := range after {
			if b, ok := before[alg]; ok && b.Signing != k.Signing {
				switched++
			}
		}
		return next, keys, nil
	}, nil)
	if err == nil {
		m.Metrics.rotated("published", published)
		m.Metrics.rotated("switched", switched)
		m.log().Debug("key schedule run", "id", id, "next", d.RotationAt)
	}
	return d, err
}

// runTracking checks the tracking domains that are due.
func (m *Monitor) runTracking(ctx context.Context) (int, error) {
	workers := m.Workers
	if workers == 0 {
		workers = 8
	}
	total := 0
	for {
		due, err := m.Store.DueTrackingDomains(ctx, m.now(), 256)
		if err != nil || len(due) == 0 {
			return total, err
		}
		sem := make(chan struct{}, workers)
		var wg sync.WaitGroup
		for _, d := range due {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if _, err := m.CheckTrackingDomain(ctx, d.ClusterID, d.ID); err != nil {
					m.log().Warn("scheduled check failed", "id", d.ID, "name", d.Name, "err", err)
				}
			}()
		}
		wg.Wait()
		total += len(due)
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		if len(due) < 256 {
			return total, nil
		}
	}
}

// LockName is the store lock that makes one node at a time the monitor.
const LockName = "waymark-monitor"

// Run checks due domains every tick until ctx ends. With several nodes on
// one database only the holder of the monitor lock checks; the others wait
// to take over if it goes away.
func (m *Monitor) Run(ctx context.Context, tick time.Duration) {
	var unlock func()
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if unlock == nil {
			u, ok, err := m.Store.TryLock(ctx, LockName)
			if err != nil && ctx.Err() == nil {
				m.log().Warn("monitor lock", "err", err)
			}
			if ok {
				unlock = u
				m.log().Info("this node now runs the monitor")
			}
		}
		if unlock != nil {
			if _, err := m.RunOnce(ctx); err != nil && ctx.Err() == nil {
				m.log().Warn("monitor run failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
