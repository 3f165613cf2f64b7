package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/waymark-mail/waymark/internal/groupcommit"
	"github.com/waymark-mail/waymark/internal/store"
)

// QueueStore is what the relay keeps: the mail queue, the messages saved
// for forward to a friend, and the suppression list it honours and adds to.
type QueueStore interface {
	store.MailQueue
	store.Messages
	store.Suppressions
}

// Relay queues composed messages and delivers them.
type Relay struct {
	Composer *Composer
	Store    QueueStore
	// Hostname is the name waymark gives in EHLO.
	Hostname string
	Retry    RetryPolicy
	Log      *slog.Logger
	// Workers is how many deliveries run at once (default 4).
	Workers int
	// AllowPrivate lets a cluster's own delivery servers be on loopback
	// or private addresses (--delivery-allow-private); --delivery, set by
	// the operator, always may.
	AllowPrivate bool
	// Lease is how long a claimed message is left to one node's delivery
	// attempt before another node (or this one, restarted) may try it
	// (default DefaultLease).
	Lease time.Duration
	// Now is the clock of the queue (attempts, retries, expiry, purges);
	// nil is time.Now. Tests replace it to run days in milliseconds.
	Now func() time.Time
	// Metrics counts deliveries (nil: none).
	Metrics *Metrics

	kick     chan struct{}
	commits  *groupcommit.Committer[store.Mail]
	once     sync.Once
	startTLS sync.Map // delivery server URL -> true when it offers STARTTLS
}

func (r *Relay) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		if r.Workers <= 0 {
			r.Workers = 4
		}
		if r.Retry == (RetryPolicy{}) {
			r.Retry = DefaultRetry
		}
		if r.Log == nil {
			r.Log = slog.Default()
		}
		if r.Hostname == "" {
			r.Hostname = "localhost"
		}
		if r.Lease <= 0 {
			r.Lease = DefaultLease
		}
		// The committer lives as long as the process, like the store.
		r.commits = groupcommit.New(context.Background(), r.Store.EnqueueMail, groupcommit.Options[store.Mail]{
			MaxItems: maxGroup, MaxBytes: maxGroupBytes, Size: func(m store.Mail) int { return len(m.Data) }, Queue: 256, Log: r.Log,
			// As long as an SMTP client waits for its reply to DATA (RFC 5321
			// section 4.5.3.2.6: 10 minutes); then the client retries anyway.
			Timeout: 10 * time.Minute})
	})
}

func (r *Relay) wake() {
	r.init()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// retention is how long finished queue rows (for VERP bounces) and saved
// messages (for forwards) are kept.
const retention = 30 * 24 * time.Hour

// purge drops what retention no longer needs.
func (r *Relay) purge(ctx context.Context) {
	before := r.now().Add(-retention)
	if n, err := r.Store.PurgeMail(ctx, before); err != nil && ctx.Err() == nil {
		r.Log.Error("relay: purge queue", "err", err)
	} else if n > 0 {
		r.Log.Info("relay: purged finished mail", "rows", n)
	}
	if _, err := r.Store.PurgeMessages(ctx, before); err != nil && ctx.Err() == nil {
		r.Log.Error("relay: purge saved messages", "err", err)
	}
}

func (r *Relay) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}
