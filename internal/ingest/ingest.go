package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waymark-mail/waymark/internal/journal"
	"github.com/waymark-mail/waymark/internal/store"
)

// Recorder appends the edge's events to the journal.
type Recorder struct {
	J    *journal.Journal
	bufs sync.Pool
}

// Record stamps e's id and returns once its record is on disk.
func (r *Recorder) Record(ctx context.Context, e store.Event) error {
	if e.ID == "" {
		e.ID = store.NewEventID(e.At)
	}
	bp, _ := r.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	// A successful Append has copied the record into the journal's write
	// buffer, so the buffer can go back to the pool; after an error (the
	// caller gave up waiting) the journal may still hold it, so it is left
	// to the collector.
	*bp = Encode((*bp)[:0], e)
	err := r.J.Append(ctx, *bp)
	if err == nil && cap(*bp) <= 8<<10 {
		r.bufs.Put(bp)
	}
	return err
}

// Loader moves a journal's records into the store.
type Loader struct {
	J     *journal.Journal
	Store store.EventLoads
	// Batch is the most events one transaction stores (default 5000).
	Batch int
	// Gather is how long the loader lets records gather after the
	// journal wakes it, so that a transaction carries many (default
	// 100 ms; the lag an event sees when the edge is quiet).
	Gather time.Duration
	// Share bounds the time the loader spends loading while it is
	// behind and the edge is appending, so that the edge keeps the CPU
	// under a burst and the journal absorbs it: after a batch that took
	// d, it rests d × (1/Share − 1) (default 0.2; 1: never rests). Once
	// the edge is quiet it loads at full speed.
	Share float64
	Log   *slog.Logger

	offset    atomic.Int64 // loaded up to here (the store's offset)
	caughtUp  atomic.Int64 // Unix nanoseconds when pending last was 0
	started   bool
	loaded    prometheus.Counter
	dropped   *prometheus.CounterVec
	batchSize prometheus.Histogram
}

// NewLoader returns a loader; its metrics go to reg when it is not nil.
func NewLoader(j *journal.Journal, st store.EventLoads, log *slog.Logger, reg prometheus.Registerer) *Loader {
	l := &Loader{J: j, Store: st, Log: log,
		loaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "waymark_loader_events_total",
			Help: "Events the loader moved from this node's journal into the store."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "waymark_loader_dropped_total",
			Help: "Journal records the loader could not load, by reason (corrupt, undecodable, gone)."}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "waymark_loader_batch_events",
			Help: "Events per loader transaction.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
	}
	l.caughtUp.Store(time.Now().UnixNano())
	for _, why := range []string{"corrupt", "undecodable", "gone"} {
		l.dropped.WithLabelValues(why) // shown at 0, so an alert has a series to watch
	}
	if reg != nil {
		reg.MustRegister(l.loaded, l.dropped, l.batchSize,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waymark_journal_pending_bytes",
				Help: "Bytes of this node's journal not loaded into the store yet."}, func() float64 { return float64(l.Pending()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waymark_journal_segments",
				Help: "Segment files of this node's journal on disk."}, func() float64 { return float64(j.Segments()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "waymark_loader_lag_seconds",
				Help: "How long events have waited in the journal: 0 when all are loaded, else the time since the loader last had none left."},
				func() float64 { return l.Lag().Seconds() }))
	}
	return l
}

// Pending is how many bytes of the journal are not loaded yet.
func (l *Loader) Pending() int64 { return max(0, l.J.End()-l.offset.Load()) }

// Lag is 0 when every record is loaded, else the time since there were
// none left.
func (l *Loader) Lag() time.Duration {
	if l.Pending() == 0 {
		return 0
	}
	return time.Since(time.Unix(0, l.caughtUp.Load()))
}

func (l *Loader) batch() int {
	if l.Batch <= 0 {
		return 5000
	}
	return l.Batch
}

// start reads the store's offset for the journal.
func (l *Loader) start(ctx context.Context) error {
	if l.started {
		return nil
	}
	off, err := l.Store.JournalOffset(ctx, l.J.ID())
	if err != nil {
		return err
	}
	if end := l.J.End(); off > end {
		// The store has loaded more of this journal than it holds: the
		// segments were lost or cut short (the ID file kept). Appends at
		// those offsets could not be told from the ones loaded, so the
		// journal goes on under a new ID.
		l.Log.Error("journal: the store has loaded this journal further than it reaches; its segments were lost. Starting it again under a new ID",
			"journal", l.J.ID(), "stored", off, "end", end)
		if err := l.J.Renew(); err != nil {
			return err
		}
		// What an earlier run wrote, short of the store's offset, was
		// loaded already; what this run appends is loaded, under the new
		// ID.
		off = l.J.OpenedEnd()
	}
	l.offset.Store(off)
	l.started = true
	return nil
}

// LoadOnce stores up to one batch and returns how many events it read.
func (l *Loader) LoadOnce(ctx context.Context) (int, error) {
	if err := l.start(ctx); err != nil {
		return 0, err
	}
	from := l.offset.Load()
	recs, next, err := l.J.Read(from, l.batch(), 32<<20)
	switch {
	case errors.Is(err, journal.ErrGone):
		// The store's offset is before the oldest segment kept (a store
		// restored from an older backup): what lay between is gone.
		l.Log.Error("journal: records between the store's offset and the oldest segment are gone; loading from there",
			"journal", l.J.ID(), "stored", from, "oldest", next)
		l.dropped.WithLabelValues("gone").Inc()
	case errors.Is(err, journal.ErrCorrupt):
		l.Log.Error("journal: a damaged record; the rest of its segment is skipped", "journal", l.J.ID(), "err", err)
		l.dropped.WithLabelValues("corrupt").Inc()
	case err != nil:
		return 0, err
	}
	if next == from {
		l.caughtUp.Store(time.Now().UnixNano())
		return 0, nil
	}
	events := make([]store.Event, 0, len(recs))
	for _, r := range recs {
		e, err := Decode(r)
		if err != nil {
			l.Log.Error("journal: a record that does not decode is skipped", "journal", l.J.ID(), "err", err)
			l.dropped.WithLabelValues("undecodable").Inc()
			continue
		}
		events = append(events, e)
	}
	if err := l.Store.LoadEvents(ctx, l.J.ID(), from, next, events); err != nil {
		if errors.Is(err, store.ErrOffsetMoved) {
			l.started = false // read the stored offset again
		}
		return 0, err
	}
	l.offset.Store(next)
	l.loaded.Add(float64(len(events)))
	l.batchSize.Observe(float64(len(events)))
	if next >= l.J.End() {
		l.caughtUp.Store(time.Now().UnixNano())
	}
	return len(recs), nil
}

// Drain loads until nothing is left (at start: what the last run left).
func (l *Loader) Drain(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := l.LoadOnce(ctx)
		total += n
		if err != nil || n == 0 && l.Pending() == 0 {
			return total, err
		}
	}
}

// Run loads as records arrive until ctx ends (Drain then takes what is
// left). Loaded segments are removed.
func (l *Loader) Run(ctx context.Context) {
	gather, share := l.Gather, l.Share
	if gather <= 0 {
		gather = 100 * time.Millisecond
	}
	if share <= 0 || share > 1 {
		share = 0.2
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	backoff := time.Duration(0)
	for {
		start, end := time.Now(), l.J.End()
		n, err := l.LoadOnce(context.WithoutCancel(ctx))
		took := time.Since(start)
		busy := l.J.End() > end // the edge appended meanwhile
		switch {
		case err != nil:
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
			l.Log.Warn("journal: loading events; retrying", "journal", l.J.ID(), "in", backoff, "err", err)
			if !sleep(backoff) {
				return
			}
			continue
		case n > 0:
			backoff = 0
			if err := l.J.Trim(l.offset.Load()); err != nil {
				l.Log.Warn("journal: removing loaded segments", "err", err)
			}
			if l.Pending() > 0 { // behind: go on, resting first while the edge is busy
				if rest := time.Duration(float64(took) * (1/share - 1)); busy && rest > 0 && !sleep(rest) {
					return
				}
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-l.J.Wake():
			if !sleep(gather) {
				return
			}
		case <-tick.C:
		}
	}
}
