package edge

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waymark-mail/waymark/internal/store"
)

// Recorder commits events with group commit: a request waits until its
// event is in the database, and every event that arrived while the last
// transaction was committing goes into the next one, so one fsync serves
// many requests. An answered request is never lost.
type Recorder struct {
	store    store.Store
	log      *slog.Logger
	maxBatch int
	queue    chan pending
	batches  prometheus.Histogram
	// AfterCommit, if set, receives each committed batch (webhooks).
	AfterCommit func([]store.Event)
}

type pending struct {
	event store.Event
	done  chan error
}

// NewRecorder starts a recorder writing to st until ctx ends.
func NewRecorder(ctx context.Context, st store.Store, log *slog.Logger, reg prometheus.Registerer) *Recorder {
	r := &Recorder{store: st, log: log, maxBatch: 1000, queue: make(chan pending, 4096),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waymark_event_commit_batch_size",
			Help:    "Events per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		})}
	if reg != nil {
		reg.MustRegister(r.batches)
	}
	go r.run(ctx)
	return r
}

// Record commits e and returns once it is durable (or failed).
func (r *Recorder) Record(ctx context.Context, e store.Event) error {
	p := pending{event: e, done: make(chan error, 1)}
	select {
	case r.queue <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) run(ctx context.Context) {
	batch := make([]pending, 0, r.maxBatch)
	events := make([]store.Event, 0, r.maxBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-r.queue:
			batch = append(batch[:0], p)
		}
	drain:
		for len(batch) < r.maxBatch {
			select {
			case p := <-r.queue:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		// Ids are stamped at commit, not at request: a reader paging by id
		// on this node never passes an event that commits after it.
		stamp := time.Now()
		events = events[:0]
		for i := range batch {
			batch[i].event.ID = store.NewEventID(stamp)
			events = append(events, batch[i].event)
		}
		// The commit must finish even if the server is shutting down: the
		// requests waiting on it answer only once it has.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := r.store.InsertEvents(cctx, events)
		r.batches.Observe(float64(len(batch)))
		if err != nil && len(batch) > 1 {
			// One bad event must not fail the others: commit one by one.
			r.log.Warn("group commit failed; committing the batch one by one", "events", len(events), "err", err)
			for _, p := range batch {
				perr := r.store.InsertEvents(cctx, []store.Event{p.event})
				if perr != nil {
					r.log.Error("committing an event", "err", perr)
				}
				p.done <- perr
			}
			cancel()
			continue
		}
		cancel()
		if err != nil {
			r.log.Error("committing events", "events", len(events), "err", err)
		}
		for _, p := range batch {
			p.done <- err
		}
		if err == nil && r.AfterCommit != nil {
			r.AfterCommit(append([]store.Event(nil), events...))
		}
	}
}
