package groupcommit

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Options bounds a Committer's groups.
type Options[T any] struct {
	// MaxItems bounds the items of one group (default 1000); a single
	// request larger than that is committed alone.
	MaxItems int
	// MaxBytes bounds the bytes of one group as Size counts them (0: no
	// bound).
	MaxBytes int
	// Size is an item's size in bytes, for MaxBytes.
	Size func(T) int
	// Queue is how many requests may wait for the committer (default 1024).
	Queue int
	// Timeout bounds one commit (default 30s). A commit runs to its end
	// even once the Committer's context has ended: callers are waiting.
	Timeout time.Duration
	// Delay, under load (the last group had more than one request),
	// holds a group open that long after its first request so that more
	// join it: fewer, larger commits for a little latency, as
	// PostgreSQL's commit_delay with commit_siblings. 0: none.
	Delay time.Duration
	// Observe, if set, is told the item count of each group committed.
	Observe func(items int)
	// Log reports groups that failed and are retried request by request.
	Log *slog.Logger
}

// Committer commits items in groups until its context ends.
type Committer[T any] struct {
	commit func(context.Context, []T) error
	o      Options[T]
	queue  chan request[T]
	done   chan struct{}
}

// ErrStopped is returned by Commit once the Committer's context has ended
// and its last group is over: the items were not committed.
var ErrStopped = errors.New("groupcommit: stopped")

type request[T any] struct {
	items []T
	done  chan error
}

// New starts a Committer that calls commit with each group's items, until
// ctx ends. commit may change the items it is given (to stamp ids).
func New[T any](ctx context.Context, commit func(context.Context, []T) error, o Options[T]) *Committer[T] {
	if o.MaxItems <= 0 {
		o.MaxItems = 1000
	}
	if o.Queue <= 0 {
		o.Queue = 1024
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	c := &Committer[T]{commit: commit, o: o, queue: make(chan request[T], o.Queue), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.run(ctx)
	}()
	return c
}

// Commit hands items to the committer and returns once they are durable,
// or the error that kept them from being so. If ctx ends first, Commit
// returns its error and the items may still be committed: at least once.
func (c *Committer[T]) Commit(ctx context.Context, items []T) error {
	if len(items) == 0 {
		return nil
	}
	r := request[T]{items: items, done: make(chan error, 1)}
	select {
	case c.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		select {
		case err := <-r.done: // committed in the last group
			return err
		default:
			return ErrStopped
		}
	}
}

// Done is closed once the Committer has stopped: its context ended and
// the group in flight, if any, is over.
func (c *Committer[T]) Done() <-chan struct{} { return c.done }

func (c *Committer[T]) size(items []T) int {
	if c.o.Size == nil || c.o.MaxBytes <= 0 {
		return 0
	}
	n := 0
	for _, it := range items {
		n += c.o.Size(it)
	}
	return n
}

func (c *Committer[T]) run(ctx context.Context) {
	var group []request[T]
	var all []T
	var timer *time.Timer
	if c.o.Delay > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
	}
	busy := false
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-c.queue:
			group = append(group[:0], r)
		}
		n, bytes := len(group[0].items), c.size(group[0].items)
		var wait <-chan time.Time
		if timer != nil && busy {
			timer.Reset(c.o.Delay)
			wait = timer.C
		}
	more:
		for n < c.o.MaxItems && (c.o.MaxBytes <= 0 || bytes < c.o.MaxBytes) {
			if wait == nil {
				select {
				case r := <-c.queue:
					group = append(group, r)
					n, bytes = n+len(r.items), bytes+c.size(r.items)
				default:
					break more
				}
				continue
			}
			select {
			case r := <-c.queue:
				group = append(group, r)
				n, bytes = n+len(r.items), bytes+c.size(r.items)
			case <-wait:
				wait = nil
				break more
			}
		}
		if wait != nil {
			timer.Stop()
		}
		busy = len(group) > 1
		all = all[:0]
		for _, r := range group {
			all = append(all, r.items...)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.Timeout)
		err := c.commit(cctx, all)
		if c.o.Observe != nil {
			c.o.Observe(len(all))
		}
		if err != nil && len(group) > 1 {
			c.o.Log.Warn("group commit failed; committing its requests one by one", "requests", len(group), "items", len(all), "err", err)
			for _, r := range group {
				r.done <- c.commit(cctx, r.items)
			}
		} else {
			for _, r := range group {
				r.done <- err
			}
		}
		cancel()
		clear(group) // let the committed items go
		clear(all)
	}
}
