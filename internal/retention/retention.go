package retention

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waymark-mail/waymark/internal/store"
)

// DefaultEvents is how long raw events are kept by default.
const DefaultEvents = 90 * 24 * time.Hour

// DefaultStats is how long the rollups are kept by default: two years.
const DefaultStats = 730 * 24 * time.Hour

// Store is what the runner needs: the expiry and the lock all nodes share.
type Store interface {
	store.EventRetention
	store.Locker
}

// Runner expires events on schedule.
type Runner struct {
	Store Store
	// Events is how long raw events are kept (0: for ever).
	Events time.Duration
	// Stats is how long the rollups are kept (0: for ever).
	Stats time.Duration
	Log   *slog.Logger
	// Now is the clock; tests replace it.
	Now     func() time.Time
	expired prometheus.Counter
}

// New returns a runner; its metric goes to reg when it is not nil.
func New(st Store, events, stats time.Duration, log *slog.Logger, reg prometheus.Registerer) *Runner {
	r := &Runner{Store: st, Events: events, Stats: stats, Log: log, Now: time.Now,
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "waymark_events_expired_total",
			Help: "Raw events removed for being older than --event-retention (rows deleted; whole days dropped on PostgreSQL are not counted)."})}
	if reg != nil {
		reg.MustRegister(r.expired)
	}
	return r
}

// RunOnce expires what is due, unless another node is at it. It reports
// whether it ran.
func (r *Runner) RunOnce(ctx context.Context) (bool, error) {
	if r.Events <= 0 && r.Stats <= 0 {
		return false, nil
	}
	unlock, ok, err := r.Store.TryLock(ctx, "event-retention")
	if err != nil || !ok {
		return false, err
	}
	defer unlock()
	now := r.Now().UTC()
	if r.Events > 0 {
		before := now.Add(-r.Events)
		start := time.Now()
		n, err := r.Store.ExpireEvents(ctx, before, now)
		if n > 0 {
			r.expired.Add(float64(n))
		}
		if err != nil {
			return true, err
		}
		r.Log.Info("retention: events before the cutoff removed", "before", before.Format(time.RFC3339), "rows", n,
			"took", time.Since(start).Round(time.Millisecond))
	}
	if r.Stats > 0 {
		before := now.Add(-r.Stats)
		n, err := r.Store.ExpireStats(ctx, before)
		if err != nil {
			return true, err
		}
		if n > 0 {
			r.Log.Info("retention: rollups before the cutoff removed", "before", before.Format(time.RFC3339), "rows", n)
		}
	}
	return true, nil
}

// Run expires every interval until ctx ends.
func (r *Runner) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.Log.Warn("retention: expiring events", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
