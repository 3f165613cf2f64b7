package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/waymark-mail/waymark/internal/netguard"
	"github.com/waymark-mail/waymark/internal/secret"
	"github.com/waymark-mail/waymark/internal/store"
)

// SignatureHeader carries the signature of a delivery.
const SignatureHeader = "Waymark-Signature"

// Sign returns the signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance")
	ErrMalformed    = errors.New("webhook: malformed signature header")
)

// Verify checks a signature header as a receiver does: the MAC over the
// timestamp and body, and a timestamp within tolerance of now.
func Verify(header, secret string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrMalformed
	}
	if !hmac.Equal([]byte(sig), []byte(mac(secret, ts, body))) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// retries is the wait before each retry: about a day in all.
var retries = []time.Duration{
	30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
}

// Backoff is the wait after failed attempt number n (1 for the first); ok is
// false when no attempt is left.
func Backoff(n int) (wait time.Duration, ok bool) {
	if n < 1 || n > len(retries) {
		return 0, false
	}
	return retries[n-1], true
}

// Payload is the JSON body of every delivery.
type Payload struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	ClusterID string    `json:"cluster_id"`
	Data      any       `json:"data"`
}

// Body is the JSON of one queued event, under a new id: what the store
// queues for a domain notice (store.Notice).
func Body(clusterID, event string, data any, now time.Time) ([]byte, error) {
	id := make([]byte, 10)
	_, _ = rand.Read(id)
	return json.Marshal(Payload{ID: "evt_" + hex.EncodeToString(id), Type: event, CreatedAt: now.UTC(), ClusterID: clusterID, Data: data})
}

// Deliverer sends the clusters' events from each webhook's cursor, and
// the queued domain notices.
type Deliverer struct {
	Queue store.WebhookQueue
	// Events hands out the batches of events after each webhook's cursor.
	Events store.WebhookEvents
	// EventData is an event's data in a delivery (the API's view of it).
	EventData func(store.Event) any
	// Box opens the webhooks' secrets, sealed at rest.
	Box *secret.Box
	// Client sends the requests; nil means one with a 10 s timeout and the
	// private-address guard.
	Client *http.Client
	// AllowPrivate lets webhooks reach loopback and private addresses
	// (tests, single-machine setups). Off, a webhook cannot be used to make
	// waymark probe the operator's internal network.
	AllowPrivate bool
	Now          func() time.Time
	Log          *slog.Logger
	// Attempts counts delivery attempts by status (delivered, retrying,
	// failed); nil counts nothing (NewAttempts makes it).
	Attempts *prometheus.CounterVec

	once sync.Once
}

// NewAttempts registers waymark_webhook_deliveries_total with reg.
func NewAttempts(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waymark_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome (delivered, retrying, failed).",
	}, []string{"outcome"})
	for _, o := range []string{"delivered", "retrying", "failed"} {
		c.WithLabelValues(o) // shown at 0
	}
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

func (d *Deliverer) client() *http.Client {
	d.once.Do(func() {
		if d.Client != nil {
			return
		}
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		if !d.AllowPrivate {
			dialer.Control = func(network, address string, c syscall.RawConn) error {
				if err := netguard.Control(network, address, c); err != nil {
					return fmt.Errorf("webhook: %w", err)
				}
				return nil
			}
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = dialer.DialContext
		tr.Proxy = nil
		d.Client = &http.Client{Timeout: 10 * time.Second, Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	})
	return d.Client
}

func (d *Deliverer) now() time.Time {
	if d.Now == nil {
		return time.Now().UTC()
	}
	return d.Now()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Log == nil {
		return slog.Default()
	}
	return d.Log
}

// lease is how long a claimed delivery is reserved for one attempt.
// It covers a whole batch at the worst: 64 deliveries, 8 at a time, 10 s each.
const lease = 3 * time.Minute

// batchLease is how long a claimed batch of events is reserved: it is
// sent within the client's 10 s. A node killed while sending holds that
// webhook back that long.
const batchLease = 20 * time.Second

// RunOnce sends every due delivery and batch of events and returns how
// many it attempted.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	n, err := d.runQueue(ctx)
	if err != nil || d.Events == nil {
		return n, err
	}
	batches, err := d.Events.ClaimEventBatches(ctx, d.now(), batchLease, batchSlots)
	if err != nil {
		return n, err
	}
	var wg sync.WaitGroup
	for _, b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.attemptBatch(context.WithoutCancel(ctx), b) // see Run
		}()
	}
	wg.Wait()
	return n + len(batches), nil
}

// runQueue sends the due deliveries of the queue (domain notices).
func (d *Deliverer) runQueue(ctx context.Context) (int, error) {
	due, err := d.Queue.ClaimDeliveries(ctx, d.now(), lease, 64)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, dl := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.attempt(context.WithoutCancel(ctx), dl) // see Run
		}()
	}
	wg.Wait()
	return len(due), nil
}

// EventID is the stable id of a stored event in deliveries: the same in
// every delivery of it, so a receiver drops the duplicates that
// at-least-once delivery sends.
func EventID(e store.Event) string { return "evt_" + e.ID }

// attemptBatch posts the events of b as one JSON array.
func (d *Deliverer) attemptBatch(ctx context.Context, b store.EventBatch) {
	now := d.now()
	if len(b.Events) == 0 { // none it takes: the cursor moves on
		if err := d.Events.FinishEventBatch(ctx, b, store.Attempt{At: now}, time.Time{}); err != nil {
			d.log().Error("moving a webhook's cursor", "webhook", b.Webhook.ID, "err", err)
		}
		return
	}
	payloads := make([]Payload, len(b.Events))
	ids := make([]string, len(b.Events))
	var types []string
	for i, e := range b.Events {
		ids[i] = EventID(e)
		payloads[i] = Payload{ID: ids[i], Type: string(e.Type), CreatedAt: e.At.UTC(), ClusterID: e.ClusterID, Data: d.EventData(e)}
		if !slices.Contains(types, string(e.Type)) {
			types = append(types, string(e.Type))
		}
	}
	body, err := json.Marshal(payloads)
	if err != nil {
		d.log().Error("webhook batch", "webhook", b.Webhook.ID, "err", err)
		return
	}
	delivery := fmt.Sprintf("dl_%s_%d", strings.TrimPrefix(b.Webhook.ID, "wh_"), b.Last)
	a := d.post(ctx, b.Webhook.URL, b.Webhook.Secret, body, now, map[string]string{
		"Waymark-Event": strings.Join(types, ","), "Waymark-Event-Id": strings.Join(ids, ","), "Waymark-Delivery": delivery})
	var next time.Time
	switch wait, retry := Backoff(b.Webhook.Attempts + 1); {
	case a.Status == "delivered":
	case retry:
		a.Status, next = "retrying", now.Add(wait)
	default:
		a.Status = "failed" // given up: the cursor moves past the batch
	}
	d.record(ctx, a, "webhook delivery", "delivery", delivery, "webhook", b.Webhook.ID, "events", len(b.Events), "url", b.Webhook.URL,
		"attempt", b.Webhook.Attempts+1)
	if err := d.Events.FinishEventBatch(ctx, b, a, next); err != nil {
		d.log().Error("recording a webhook delivery", "delivery", delivery, "err", err)
	}
}

// post sends body to url signed with the sealed secret, and returns the
// attempt: delivered on a 2xx, else with the error.
func (d *Deliverer) post(ctx context.Context, url, sealed string, body []byte, now time.Time, headers map[string]string) store.Attempt {
	a := store.Attempt{At: now, Status: "delivered"}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	var key []byte
	if err == nil {
		key, err = d.Box.OpenStored([]byte(sealed), secret.WebhookSecretContext) // sealed at rest
	}
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "waymark-webhooks/1")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		req.Header.Set(SignatureHeader, Sign(string(key), now, body))
		var resp *http.Response
		resp, err = d.client().Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			a.Code = resp.StatusCode
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				err = fmt.Errorf("answered %s", resp.Status)
			}
		}
	}
	if err != nil {
		a.Status, a.Error = "", err.Error()
	}
	return a
}

// record logs an attempt and counts it.
func (d *Deliverer) record(ctx context.Context, a store.Attempt, msg string, args ...any) {
	level := slog.LevelDebug
	if a.Error != "" {
		level = slog.LevelWarn
	}
	d.log().Log(ctx, level, msg, append(args, "status", a.Status, "code", a.Code, "err", a.Error)...)
	if d.Attempts != nil {
		d.Attempts.WithLabelValues(a.Status).Inc()
	}
}

// attempt posts a queued domain notice, as a JSON array of its one event
// like every delivery.
func (d *Deliverer) attempt(ctx context.Context, dl store.Delivery) {
	now := d.now()
	var p struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(dl.Payload, &p)
	body := append(append([]byte("["), dl.Payload...), ']')
	a := d.post(ctx, dl.URL, dl.Secret, body, now, map[string]string{
		"Waymark-Event": dl.Event, "Waymark-Event-Id": p.ID, "Waymark-Delivery": dl.ID})
	var next time.Time
	switch wait, retry := Backoff(dl.Attempts + 1); {
	case a.Status == "delivered":
	case retry:
		a.Status, next = "retrying", now.Add(wait)
	default:
		a.Status = "failed"
	}
	d.record(ctx, a, "webhook delivery", "delivery", dl.ID, "event", dl.Event, "url", dl.URL, "attempt", dl.Attempts+1)
	if ferr := d.Queue.FinishDelivery(ctx, dl, a, next); ferr != nil {
		d.log().Error("recording a webhook delivery", "delivery", dl.ID, "err", ferr)
	}
}

// batchSlots is how many batches of events a node sends at once.
const batchSlots = 8

// Run delivers until ctx ends: the queued notices every tick, and batches
// of events as fast as their receivers take them. Each batch holds one of
// batchSlots slots while it is sent, and a slot that frees is filled at
// once, so a slow or hanging receiver holds back its own webhook only
// (leased while in flight), never the others. Once ctx ends nothing new is
// claimed, and Run returns when the deliveries in flight have been
// answered (or timed out, Client's bound) and recorded: a POST cut off by
// a shutdown would be sent again after the restart, to a receiver that
// may have taken it.
func (d *Deliverer) Run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	slots := make(chan struct{}, batchSlots)
	freed := make(chan struct{}, batchSlots)
	var wg sync.WaitGroup
	defer wg.Wait()
	lastQueue := time.Time{}
	for {
		if time.Since(lastQueue) >= tick {
			lastQueue = time.Now()
			if _, err := d.runQueue(ctx); err != nil && ctx.Err() == nil {
				d.log().Warn("webhook deliveries", "err", err)
			}
		}
		if free := batchSlots - len(slots); d.Events != nil && free > 0 {
			batches, err := d.Events.ClaimEventBatches(ctx, d.now(), batchLease, free)
			if err != nil && ctx.Err() == nil {
				d.log().Warn("webhook event batches", "err", err)
			}
			for _, b := range batches {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() {
						<-slots
						wg.Done()
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					d.attemptBatch(context.WithoutCancel(ctx), b)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-freed:
		}
	}
}

// BacklogCollector reports, at each scrape, the deliveries not made yet
// and the oldest one's age, from the store.
type BacklogCollector struct {
	Queue interface {
		WebhookBacklog(ctx context.Context) (int, time.Time, error)
	}
}

var (
	backlogDesc = prometheus.NewDesc("waymark_webhook_backlog", "Webhook deliveries not made yet (first tries and retries).", nil, nil)
	oldestDesc  = prometheus.NewDesc("waymark_webhook_oldest_seconds", "Age of the oldest webhook delivery not made yet.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c BacklogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc; ch <- oldestDesc }

// Collect implements prometheus.Collector.
func (c BacklogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, oldest, err := c.Queue.WebhookBacklog(ctx)
	if err != nil {
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = time.Since(oldest).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
}
