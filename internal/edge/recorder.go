package edge

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waymark-mail/waymark/internal/groupcommit"
	"github.com/waymark-mail/waymark/internal/store"
)

// Recorder commits events with group commit: a request waits until its
// event is in the database, and every event that arrived while the last
// transaction was committing goes into the next one, so one fsync serves
// many requests. An answered request is never lost.
type Recorder struct {
	store   EventWriter
	log     *slog.Logger
	commits *groupcommit.Committer[store.Event]
	batches prometheus.Histogram
	// AfterCommit, if set, receives each committed batch (webhooks).
	AfterCommit func([]store.Event)
}

// EventWriter stores events in one transaction.
type EventWriter interface {
	InsertEvents(ctx context.Context, events []store.Event) error
}

// NewRecorder starts a recorder writing to st until ctx ends.
func NewRecorder(ctx context.Context, st EventWriter, log *slog.Logger, reg prometheus.Registerer) *Recorder {
	r := &Recorder{store: st, log: log,
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waymark_event_commit_batch_size",
			Help:    "Events per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		})}
	if reg != nil {
		reg.MustRegister(r.batches)
	}
	r.commits = groupcommit.New(ctx, r.commit, groupcommit.Options[store.Event]{MaxItems: 1000, Queue: 4096,
		Observe: func(n int) { r.batches.Observe(float64(n)) }, Log: log})
	return r
}

// Record commits e and returns once it is durable (or failed).
func (r *Recorder) Record(ctx context.Context, e store.Event) error {
	return r.commits.Commit(ctx, []store.Event{e})
}

// commit stores one group. Ids are stamped at commit, not at request: a
// reader paging by id on this node never passes an event that commits
// after it.
func (r *Recorder) commit(ctx context.Context, events []store.Event) error {
	stamp := time.Now()
	for i := range events {
		events[i].ID = store.NewEventID(stamp)
	}
	if err := r.store.InsertEvents(ctx, events); err != nil {
		r.log.Error("committing events", "events", len(events), "err", err)
		return err
	}
	if r.AfterCommit != nil {
		r.AfterCommit(slices.Clone(events))
	}
	return nil
}
