package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/journal"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
	"github.com/waymark-mail/waymark/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sample(i int) store.Event {
	return store.Event{ID: fmt.Sprintf("%024x", i), ClusterID: "cl_a", Type: event.Click, At: time.UnixMicro(1_800_000_000_000_000 + int64(i)).UTC(),
		MessageID: fmt.Sprint("msg_", i), Recipient: "ann@example.com", URL: "https://shop.example/ä?x=1", Host: "t.waymark.localhost",
		ClientIP: "2001:db8::1", UserAgent: "Mozilla/5.0", Class: event.Human, Reason: ""}
}

func TestCodec(t *testing.T) {
	for _, e := range []store.Event{sample(1), {ID: "x", ClusterID: "c", Type: event.Open, At: time.UnixMicro(-5).UTC()}} {
		got, err := Decode(Encode(nil, e))
		if err != nil || got != e {
			t.Fatalf("round trip of %+v: %+v %v", e, got, err)
		}
	}
	good := Encode(nil, sample(2))
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{2}, good[1:]...),
		"cut short":     good[:len(good)-3],
		"trailing":      append(good[:len(good):len(good)], 0),
		"unknown type":  Encode(nil, store.Event{ID: "x", ClusterID: "c", Type: "teleport"}),
		"no cluster":    Encode(nil, store.Event{ID: "x", Type: event.Open}),
		"huge length":   append([]byte{1, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"only the time": {1, 0},
	} {
		if _, err := Decode(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want ErrBadRecord", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, sample(1)))
	f.Add([]byte{1, 0, 1, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes back to the same bytes.
		if again := Encode(nil, e); string(again) != string(b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, e, again)
		}
	})
}

type fixture struct {
	t   *testing.T
	dir string
	st  store.Store
	j   *journal.Journal
}

func newFixture(t *testing.T) *fixture {
	st := storetest.SQLite(t)
	if err := st.CreateCluster(context.Background(), store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: time.Now()}, "h"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: t.TempDir(), st: st}
	f.reopen()
	return f
}

func (f *fixture) reopen() {
	if f.j != nil {
		f.j.Close()
	}
	j, err := journal.Open(f.dir, journal.Options{SegmentSize: 4096})
	if err != nil {
		f.t.Fatal(err)
	}
	f.j = j
	f.t.Cleanup(func() { j.Close() })
}

func (f *fixture) record(from, to int) {
	rec := &Recorder{J: f.j}
	for i := from; i < to; i++ {
		if err := rec.Record(context.Background(), sample(i)); err != nil {
			f.t.Fatal(err)
		}
	}
}

// stored is the message ids of the stored events, in sequence order.
func (f *fixture) stored() []string {
	var out []string
	var after int64
	for {
		evs, err := f.st.Events(context.Background(), "cl_a", store.EventQuery{After: after, Limit: 1000})
		if err != nil {
			f.t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, e := range evs {
			out = append(out, e.MessageID)
			after = e.Seq
		}
	}
}

func wantStored(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d events stored, want %d", len(got), n)
	}
	for i, id := range got {
		if id != fmt.Sprint("msg_", i) {
			t.Fatalf("event %d is %s: each once, in journal order", i, id)
		}
	}
}

// TestLoaderAcrossRestarts: a loader stopped half way (a crash), the
// journal reopened, a new loader: every record stored once, in order, and
// the loaded segments removed.
func TestLoaderAcrossRestarts(t *testing.T) {
	f := newFixture(t)
	f.record(0, 300)
	l := NewLoader(f.j, f.st, quiet, nil)
	l.Batch = 50
	for range 3 {
		if _, err := l.LoadOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if l.Pending() == 0 || l.Lag() == 0 {
		t.Fatalf("pending %d, lag %s half way", l.Pending(), l.Lag())
	}
	before := len(f.stored())
	f.reopen()
	f.record(300, 400)
	l = NewLoader(f.j, f.st, quiet, nil)
	n, err := l.Drain(context.Background())
	if err != nil || before == 0 || n != 400-before {
		t.Fatalf("drained %d, %v; want the %d not loaded", n, err, 400-before)
	}
	wantStored(t, f.stored(), 400)
	if l.Pending() != 0 || l.Lag() != 0 {
		t.Fatalf("pending %d, lag %s after a drain", l.Pending(), l.Lag())
	}
	segs := f.j.Segments()
	if err := f.j.Trim(l.offset.Load()); err != nil || f.j.Segments() != 1 || segs < 2 {
		t.Fatalf("trim: %d segments of %d left, %v", f.j.Segments(), segs, err)
	}
}

// TestLoaderRun: events recorded while Run runs are stored shortly after.
func TestLoaderRun(t *testing.T) {
	f := newFixture(t)
	l := NewLoader(f.j, f.st, quiet, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	f.record(0, 120)
	deadline := time.Now().Add(10 * time.Second)
	for len(f.stored()) < 120 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	wantStored(t, f.stored(), 120)
}

// TestLoaderBadRecords: damaged and undecodable records are skipped and
// counted; the rest load.
func TestLoaderBadRecords(t *testing.T) {
	f := newFixture(t)
	f.record(0, 2)
	if err := f.j.Append(context.Background(), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	f.record(2, 4)
	l := NewLoader(f.j, f.st, quiet, nil)
	if _, err := l.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantStored(t, f.stored(), 4)
}

// TestLoaderSegmentsLost: a store that loaded the journal further than
// its segments reach (they were deleted, the ID file kept) gets the
// journal under a new ID, and what is recorded after loads.
func TestLoaderSegmentsLost(t *testing.T) {
	f := newFixture(t)
	f.record(0, 50)
	l := NewLoader(f.j, f.st, quiet, nil)
	if _, err := l.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := f.j.ID()
	f.j.Close()
	segs, _ := filepath.Glob(filepath.Join(f.dir, "*.seg"))
	for _, s := range segs {
		os.Remove(s)
	}
	f.j = nil
	f.reopen()
	f.record(50, 60)
	l = NewLoader(f.j, f.st, quiet, nil)
	if _, err := l.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.j.ID() == old {
		t.Fatal("the journal kept its ID")
	}
	wantStored(t, f.stored(), 60)
}

// TestLoaderStoreRestored: a store restored from a backup older than the
// journal's oldest segment loads from that segment on.
func TestLoaderStoreRestored(t *testing.T) {
	f := newFixture(t)
	f.record(0, 300) // several segments of 4 KiB
	l := NewLoader(f.j, f.st, quiet, nil)
	l.Batch = 10
	if _, err := l.LoadOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The segments before the loader's offset... and past it: as if the
	// store had been put back to a backup from before they were loaded.
	if err := f.j.Trim(f.j.End()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := f.stored()
	if len(got) <= 10 || len(got) >= 300 || got[len(got)-1] != "msg_299" {
		t.Fatalf("%d stored, last %s", len(got), got[len(got)-1])
	}
}

func BenchmarkRecord(b *testing.B) {
	j, err := journal.Open(b.TempDir(), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := &Recorder{J: j}
	e := sample(1)
	e.ID = ""
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rec.Record(context.Background(), e); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestCodecOneEncoding(t *testing.T) {
	good := Encode(nil, store.Event{ID: "x", ClusterID: "c", Type: event.Open})
	// An overlong varint for the time (0 as 0x80 0x00) is refused.
	long := append([]byte{1, 0x80, 0x00}, good[2:]...)
	if _, err := Decode(long); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("overlong time: %v", err)
	}
}

// TestTwoNodesOneOrder: two nodes on one PostgreSQL, each with its own
// store connection, journal and loader, one node's clock an hour behind
// the other's, record clicks at once while a reader pages by cursor the
// whole time and after: the reader sees every event exactly once.
// (Ids that sort by time would skip the slow node's events.)
func TestTwoNodesOneOrder(t *testing.T) {
	url := testenv.Postgres(t)
	ctx := context.Background()
	var stores [2]store.Store
	for i := range stores {
		st, err := store.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	if err := stores[0].CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: time.Now()}, "h"); err != nil {
		t.Fatal(err)
	}
	const perNode = 1500
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for n, skew := range []time.Duration{0, -time.Hour} {
		j, err := journal.Open(t.TempDir(), journal.Options{Delay: 200 * time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { j.Close() })
		l := NewLoader(j, stores[n], quiet, nil)
		l.Batch, l.Gather = 97, time.Millisecond
		loaded := make(chan struct{})
		go func() { l.Run(runCtx); close(loaded) }()
		rec := &Recorder{J: j}
		for w := range 4 { // four clients a node
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < perNode; i += 4 {
					e := sample(i)
					e.ID, e.MessageID, e.At = "", fmt.Sprintf("n%d-%d", n, i), time.Now().Add(skew)
					if err := rec.Record(ctx, e); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		t.Cleanup(func() {
			<-loaded
			if _, err := l.Drain(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	seen := map[string]int{}
	var cursor int64
	page := func() int {
		evs, err := stores[1].Events(ctx, "cl_a", store.EventQuery{After: cursor, Limit: 101})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			seen[e.MessageID]++
			cursor = e.Seq
		}
		return len(evs)
	}
	recorded := make(chan struct{})
	go func() { wg.Wait(); close(recorded) }()
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < 2*perNode && time.Now().Before(deadline) {
		if page() == 0 {
			select {
			case <-recorded:
			default:
			}
			time.Sleep(time.Millisecond)
		}
	}
	stop()
	for page() > 0 {
	}
	if len(seen) != 2*perNode {
		t.Fatalf("the reader saw %d events of %d", len(seen), 2*perNode)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s seen %d times", id, c)
		}
	}
}

// BenchmarkLoad is the loader's rate: 50,000 clicks recorded in a
// journal, then moved into the store (SQLite with synchronous=FULL, and
// the test PostgreSQL), in events a second.
func BenchmarkLoad(b *testing.B) {
	const n = 50_000
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			for b.Loop() { // the rate is of the drain only, measured inside
				var st store.Store
				var err error
				if backend == "sqlite" {
					st, err = store.OpenSQLite(context.Background(), b.TempDir())
				} else {
					st, err = store.OpenPostgres(context.Background(), testenv.Postgres(b))
				}
				if err != nil {
					b.Fatal(err)
				}
				st.CreateCluster(context.Background(), store.Cluster{ID: "cl_a", Name: "acme", CreatedAt: time.Now()}, "h")
				j, err := journal.Open(b.TempDir(), journal.Options{})
				if err != nil {
					b.Fatal(err)
				}
				recs := make([][]byte, 0, 1000)
				for i := range n {
					e := sample(i)
					e.At = time.Now()
					recs = append(recs, Encode(nil, e))
					if len(recs) == cap(recs) {
						if err := j.Append(context.Background(), recs...); err != nil {
							b.Fatal(err)
						}
						recs = recs[:0]
					}
				}
				l := NewLoader(j, st, quiet, nil)
				start := time.Now()
				got, err := l.Drain(context.Background())
				if err != nil || got != n {
					b.Fatalf("loaded %d, %v", got, err)
				}
				rate := float64(n) / time.Since(start).Seconds()
				j.Close()
				st.Close()
				b.ReportMetric(rate, "events/s")
			}
		})
	}
}

// TestLoaderDamagedAfterLoad: records loaded, then one of them damaged on
// disk before a restart: nothing is loaded twice, and what is recorded
// after loads.
func TestLoaderDamagedAfterLoad(t *testing.T) {
	f := newFixture(t)
	f.j.Close()
	f.j = nil
	j, err := journal.Open(f.dir, journal.Options{}) // one big segment
	if err != nil {
		t.Fatal(err)
	}
	f.j = j
	f.record(0, 40)
	if _, err := NewLoader(f.j, f.st, quiet, nil).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.j.Close()
	seg := filepath.Join(f.dir, "0000000000000000.seg")
	b, _ := os.ReadFile(seg)
	b[500] ^= 0xff // inside an early record
	os.WriteFile(seg, b, 0o600)
	if f.j, err = journal.Open(f.dir, journal.Options{}); err != nil {
		t.Fatal(err)
	}
	f.record(40, 45)
	if _, err := NewLoader(f.j, f.st, quiet, nil).Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantStored(t, f.stored(), 45)
}
