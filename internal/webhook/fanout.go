package webhook

import (
	"context"
	"log/slog"
	"time"

	"github.com/waymark-mail/waymark/internal/store"
)

// FanOut queues webhook deliveries for committed events (clicks, opens,
// relayed mail, bounces) off the commit path: Events never blocks the
// caller, whose requests wait on the commit, and only clusters that
// subscribe to an event type are written to.
type FanOut struct {
	q     Enqueuer
	subs  *Subscriptions
	data  func(store.Event) any
	log   *slog.Logger
	queue chan []store.Event
}

// FanOutStore is what a FanOut reads and writes.
type FanOutStore interface {
	Enqueuer
	Webhooks(ctx context.Context, clusterID string) ([]store.Webhook, error)
}

// NewFanOut returns a FanOut over st; data is an event's webhook data (the
// API's view of it). Run must be started.
func NewFanOut(st FanOutStore, data func(store.Event) any, log *slog.Logger) *FanOut {
	return &FanOut{q: st, subs: NewSubscriptions(st, 10*time.Second), data: data, log: log, queue: make(chan []store.Event, 1024)}
}

// Run queues the deliveries of the batches handed to Events until ctx ends.
func (f *FanOut) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-f.queue:
			for _, e := range batch {
				if !f.subs.Wants(ctx, e.ClusterID, string(e.Type)) {
					continue
				}
				if err := Enqueue(ctx, f.q, e.ClusterID, string(e.Type), f.data(e), e.At); err != nil {
					f.log.Error("queueing a webhook event", "event", e.Type, "err", err)
				}
			}
		}
	}
}

// Events hands over a committed batch. When the queue is full the batch's
// webhooks are dropped, and said so: the commit loop (every click waits on
// it) is never blocked.
func (f *FanOut) Events(batch []store.Event) {
	select {
	case f.queue <- batch:
	default:
		f.log.Error("webhook queue full: event webhooks dropped", "events", len(batch))
	}
}
