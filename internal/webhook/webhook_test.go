package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
	"github.com/waymark-mail/waymark/internal/store"
	"github.com/waymark-mail/waymark/internal/store/storetest"
)

var t0 = time.Unix(1_800_000_000, 0).UTC()

func TestSignVerify(t *testing.T) {
	body := []byte(`{"type":"tracking_domain.verified"}`)
	h := Sign("s3cret", t0, body)
	if !strings.HasPrefix(h, "t=1800000000,v1=") || len(h) != len("t=1800000000,v1=")+64 {
		t.Fatalf("header %q", h)
	}
	for _, tc := range []struct {
		name   string
		header string
		secret string
		body   []byte
		now    time.Time
		want   error
	}{
		{"good", h, "s3cret", body, t0.Add(time.Minute), nil},
		{"wrong secret", h, "other", body, t0, ErrBadSignature},
		{"altered body", h, "s3cret", []byte(`{"type":"x"}`), t0, ErrBadSignature},
		{"replayed later", h, "s3cret", body, t0.Add(10 * time.Minute), ErrStale},
		{"from the future", h, "s3cret", body, t0.Add(-10 * time.Minute), ErrStale},
		{"altered timestamp", strings.Replace(h, "t=1800000000", "t=1800000100", 1), "s3cret", body, t0, ErrBadSignature},
		{"no v1", "t=1800000000", "s3cret", body, t0, ErrMalformed},
		{"garbage", "nonsense", "s3cret", body, t0, ErrMalformed},
	} {
		if err := Verify(tc.header, tc.secret, tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	var total time.Duration
	n := 0
	for i := 1; ; i++ {
		w, ok := Backoff(i)
		if !ok {
			break
		}
		if i > 1 {
			prev, _ := Backoff(i - 1)
			if w <= prev {
				t.Fatalf("wait %d (%v) not longer than the one before (%v)", i, w, prev)
			}
		}
		total += w
		n++
	}
	if n != 8 || total < 20*time.Hour || total > 26*time.Hour {
		t.Fatalf("%d retries over %v; want 8 over about a day", n, total)
	}
	if _, ok := Backoff(0); ok {
		t.Fatal("attempt 0")
	}
}

// memQueue is an in-memory Queue: the store's queue is tested in package
// store; here the delivery logic is.
type memQueue struct {
	mu       sync.Mutex
	pending  []store.Delivery
	finished []store.Attempt
	next     []time.Time
}

func (q *memQueue) EnqueueEvent(_ context.Context, _, event string, payload []byte, _ time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, store.Delivery{ID: "dl_1", Event: event, Payload: payload})
	return 1, nil
}

func (q *memQueue) ClaimDeliveries(context.Context, time.Time, time.Duration, int) ([]store.Delivery, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	return out, nil
}

func (q *memQueue) FinishDelivery(_ context.Context, d store.Delivery, a store.Attempt, next time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.finished = append(q.finished, a)
	q.next = append(q.next, next)
	if !next.IsZero() {
		d.Attempts++
		q.pending = append(q.pending, d)
	}
	return nil
}

func TestDeliverSignedAndRetried(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	fail := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the delivery: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		got, bodies = append(got, r), append(bodies, b)
		if fail > 0 {
			fail--
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()
	q := &memQueue{}
	body, err := Body("cl_a", "tracking_domain.verified", map[string]string{"name": "track.example.com"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	q.EnqueueEvent(context.Background(), "cl_a", "tracking_domain.verified", body, t0)
	q.pending[0].URL, q.pending[0].Secret = srv.URL, "s3cret"
	d := &Deliverer{Queue: q, AllowPrivate: true, Now: func() time.Time { return t0 }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for range 3 {
		if n, err := d.RunOnce(context.Background()); n != 1 || err != nil {
			t.Fatalf("run: %d %v", n, err)
		}
	}
	if len(got) != 3 || q.finished[0].Status != "retrying" || q.finished[0].Code != 503 || q.finished[2].Status != "delivered" ||
		!q.next[0].Equal(t0.Add(30*time.Second)) || !q.next[1].Equal(t0.Add(2*time.Minute)) || !q.next[2].IsZero() {
		t.Fatalf("attempts %+v next %v", q.finished, q.next)
	}
	for i, r := range got {
		if err := Verify(r.Header.Get(SignatureHeader), "s3cret", bodies[i], t0, time.Minute); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if r.Header.Get("Waymark-Event") != "tracking_domain.verified" || r.Header.Get("Waymark-Delivery") != "dl_1" {
			t.Fatalf("headers %v", r.Header)
		}
	}
	// Every delivery is an array of events; the event's id is in the
	// header too, the same in each attempt.
	var ps []Payload
	if err := json.Unmarshal(bodies[0], &ps); err != nil || len(ps) != 1 || ps[0].Type != "tracking_domain.verified" || ps[0].ClusterID != "cl_a" ||
		!strings.HasPrefix(ps[0].ID, "evt_") || !ps[0].CreatedAt.Equal(t0) {
		t.Fatalf("payload %s: %v", bodies[0], err)
	}
	for _, r := range got {
		if r.Header.Get("Waymark-Event-Id") != ps[0].ID {
			t.Fatalf("Waymark-Event-Id %q, want %s", r.Header.Get("Waymark-Event-Id"), ps[0].ID)
		}
	}
}

func TestGivesUpAfterRetries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	q := &memQueue{pending: []store.Delivery{{ID: "dl_1", URL: srv.URL, Secret: "s", Payload: []byte("{}")}}}
	d := &Deliverer{Queue: q, AllowPrivate: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for i := 0; i < 20; i++ {
		if _, err := d.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(q.finished) != 9 || q.finished[8].Status != "failed" || !strings.Contains(q.finished[8].Error, "500") {
		t.Fatalf("%d attempts, last %+v", len(q.finished), q.finished[len(q.finished)-1])
	}
}

// Without AllowPrivate a webhook cannot reach loopback: no request arrives.
func TestPrivateAddressRefused(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit = true }))
	defer srv.Close()
	q := &memQueue{pending: []store.Delivery{{ID: "dl_1", URL: srv.URL, Secret: "s", Payload: []byte("{}")}}}
	d := &Deliverer{Queue: q, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n, err := d.RunOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("run: %d %v", n, err)
	}
	if hit || len(q.finished) != 1 || !strings.Contains(q.finished[0].Error, "not public") {
		t.Fatalf("hit=%v attempts %+v", hit, q.finished)
	}
}

// TestSlowReceiverHoldsOnlyItsOwn: with one cluster's receiver hanging,
// another cluster's webhook gets every batch as fast as it answers, many
// batches within one tick.
func TestSlowReceiverHoldsOnlyItsOwn(t *testing.T) {
	st := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang) // first: the hanging handler returns, then the server closes
	var mu sync.Mutex
	got := 0
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []Payload
		json.NewDecoder(r.Body).Decode(&evs)
		mu.Lock()
		got += len(evs)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer fast.Close()
	now := time.Now().UTC()
	for i, c := range []string{"cl_slow", "cl_fast"} {
		if err := st.CreateCluster(ctx, store.Cluster{ID: c, Name: c, CreatedAt: now}, c); err != nil {
			t.Fatal(err)
		}
		url := []string{slow.URL, fast.URL}[i]
		if err := st.CreateWebhook(ctx, store.Webhook{ID: "wh_" + c, ClusterID: c, URL: url, Events: []string{"*"}, Secret: "s", CreatedAt: now, MaxBatch: 1}); err != nil {
			t.Fatal(err)
		}
	}
	var evs []store.Event
	for i := range 40 {
		for _, c := range []string{"cl_slow", "cl_fast"} {
			evs = append(evs, store.Event{ID: store.NewEventID(now) + c, ClusterID: c, Type: event.Click, At: now, MessageID: "m" + strconv.Itoa(i)})
		}
	}
	if err := st.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Queue: st, Events: st, EventData: func(e store.Event) any { return e.MessageID }, AllowPrivate: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go d.Run(ctx, time.Hour) // one tick: what follows comes from freed slots
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := got
		mu.Unlock()
		if n == 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fast receiver got %d of its 40 events (batches of 1) while the other hung", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStopFinishesInFlight: a shutdown (ctx ends) while a batch is being
// posted lets the POST finish and records it, so the restarted node does
// not send it again.
func TestStopFinishesInFlight(t *testing.T) {
	st := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	arrived := make(chan struct{}, 10)
	var mu sync.Mutex
	posts, got := 0, 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(300 * time.Millisecond) // the shutdown comes meanwhile
		var evs []Payload
		json.NewDecoder(r.Body).Decode(&evs)
		mu.Lock()
		posts, got = posts+1, got+len(evs)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer hook.Close()
	now := time.Now().UTC()
	if err := st.CreateCluster(ctx, store.Cluster{ID: "cl_a", Name: "a", CreatedAt: now}, "a"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWebhook(ctx, store.Webhook{ID: "wh_a", ClusterID: "cl_a", URL: hook.URL, Events: []string{"*"}, Secret: "s", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var evs []store.Event
	for i := range 5 {
		evs = append(evs, store.Event{ID: store.NewEventID(now) + strconv.Itoa(i), ClusterID: "cl_a", Type: event.Click, At: now, MessageID: "m"})
	}
	if err := st.InsertEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &Deliverer{Queue: st, Events: st, EventData: func(e store.Event) any { return e.MessageID }, AllowPrivate: true, Log: quiet}
	done := make(chan struct{})
	go func() {
		d.Run(ctx, time.Hour)
		close(done)
	}()
	<-arrived
	cancel()
	<-done
	mu.Lock()
	p, g := posts, got
	mu.Unlock()
	if p != 1 || g != 5 {
		t.Fatalf("Run returned with %d posts, %d events answered: it did not wait for the one in flight", p, g)
	}
	// The restarted node: nothing to send again.
	again := &Deliverer{Queue: st, Events: st, EventData: func(e store.Event) any { return e.MessageID }, AllowPrivate: true, Log: quiet}
	if n, err := again.RunOnce(context.Background()); err != nil || n != 0 {
		t.Fatalf("after the restart: %d sent again (%v)", n, err)
	}
}
