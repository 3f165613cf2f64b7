package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

func (s *sqlStore) CreateWebhook(ctx context.Context, w Webhook) error {
	events, err := json.Marshal(w.Events)
	if err != nil {
		return err
	}
	if w.MaxBatch <= 0 {
		w.MaxBatch = DefaultMaxBatch
	}
	// The webhook hears of the events stored from now on.
	_, err = s.db.ExecContext(ctx, s.q(`INSERT INTO webhooks (id, cluster_id, url, events, secret, created_at, max_batch, event_cursor)
		VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT last FROM event_seq))`), w.ID, w.ClusterID, w.URL, string(events), w.Secret, micros(w.CreatedAt), w.MaxBatch)
	return s.wrap(err, "create webhook")
}

func (s *sqlStore) Webhooks(ctx context.Context, clusterID string) ([]Webhook, error) {
	return queryAll(ctx, s, "webhooks", scanWebhook, `SELECT `+webhookCols+` FROM webhooks WHERE cluster_id = ? ORDER BY created_at, id`, clusterID)
}

const webhookCols = `id, cluster_id, url, events, secret, created_at, last_status, last_code, last_error, last_at,
	max_batch, event_cursor, attempts`

func scanWebhook(r scanner) (Webhook, error) {
	var w Webhook
	var events string
	var created int64
	var last Attempt
	var lastAt sql.NullInt64
	if err := r.Scan(&w.ID, &w.ClusterID, &w.URL, &events, &w.Secret, &created,
		&last.Status, &last.Code, &last.Error, &lastAt, &w.MaxBatch, &w.Cursor, &w.Attempts); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return w, fmt.Errorf("events of webhook %s: %w", w.ID, err)
	}
	w.CreatedAt = fromMicros(created)
	if lastAt.Valid {
		last.At = fromMicros(lastAt.Int64)
		w.Last = &last
	}
	return w, nil
}

func (s *sqlStore) DeleteWebhook(ctx context.Context, clusterID, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM webhooks WHERE cluster_id = ? AND id = ?`), clusterID, id)
	if err != nil {
		return s.wrap(err, "delete webhook")
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap(err, "delete webhook")
	} else if n == 0 {
		return fmt.Errorf("delete webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// Notice is a webhook event about a domain (tracking_domain.verified, …).
// Given to the change of the domain it tells of, it is queued for the
// cluster's webhooks in that change's transaction: no crash keeps the
// change and loses its notice.
type Notice struct {
	Event   string
	Payload []byte // the whole body of one event (webhook.Body)
	At      time.Time
}

// enqueueNotice queues n, in tx, for each webhook of the cluster that
// subscribes to it, and returns how many.
func (s *sqlStore) enqueueNotice(ctx context.Context, tx *sql.Tx, clusterID string, n *Notice) (int, error) {
	if n == nil {
		return 0, nil
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, events FROM webhooks WHERE cluster_id = ? ORDER BY created_at, id`), clusterID)
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id, raw string
		var events []string
		if err := rows.Scan(&id, &raw); err != nil {
			rows.Close()
			return 0, err
		}
		if err := json.Unmarshal([]byte(raw), &events); err != nil {
			rows.Close()
			return 0, fmt.Errorf("events of webhook %s: %w", id, err)
		}
		if slices.Contains(events, n.Event) || slices.Contains(events, "*") {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhook_deliveries
			(id, webhook_id, event, payload, status, attempts, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)`), deliveryID(), id, n.Event, string(n.Payload), micros(n.At), micros(n.At)); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// deliveryID is a random id for a delivery, sent to the receiver so it can
// drop duplicates (delivery is at least once).
func deliveryID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "dl_" + hex.EncodeToString(b)
}

func (s *sqlStore) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	// RETURNING may read other tables only through subqueries (SQLite).
	const cols = `id, webhook_id, (SELECT url FROM webhooks w WHERE w.id = webhook_id), (SELECT secret FROM webhooks w WHERE w.id = webhook_id),
		event, payload, attempts, created_at`
	out, err := claim(ctx, s, "claim deliveries", "webhook_deliveries", "status = 'pending'", cols, func(r scanner) (Delivery, error) {
		var d Delivery
		var payload string
		var created int64
		err := r.Scan(&d.ID, &d.WebhookID, &d.URL, &d.Secret, &d.Event, &payload, &d.Attempts, &created)
		d.Payload, d.CreatedAt = []byte(payload), fromMicros(created)
		return d, err
	}, now, lease, limit)
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID)) })
	return out, err
}

func (s *sqlStore) FinishDelivery(ctx context.Context, d Delivery, a Attempt, next time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		status := a.Status
		if status == "retrying" {
			status = "pending"
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1,
			next_attempt_at = ? WHERE id = ?`), status, micros(next), d.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE webhooks SET last_status = ?, last_code = ?, last_error = ?, last_at = ?
			WHERE id = ?`), a.Status, a.Code, a.Error, micros(a.At), d.WebhookID)
		return err
	})
	return s.wrap(err, "finish delivery "+d.ID)
}

// Webhooks holds the clusters' webhooks. Their deliveries of domain
// notices are queued by the changes the notices tell of (Notice).
type Webhooks interface {
	// CreateWebhook stores a webhook of a cluster.
	CreateWebhook(ctx context.Context, w Webhook) error
	// Webhooks lists a cluster's webhooks, oldest first.
	Webhooks(ctx context.Context, clusterID string) ([]Webhook, error)
	// DeleteWebhook removes a webhook and its pending deliveries.
	DeleteWebhook(ctx context.Context, clusterID, id string) error
}

// WebhookQueue hands queued webhook deliveries to the nodes that send them.
type WebhookQueue interface {
	// ClaimDeliveries takes up to limit deliveries that are due, for lease:
	// another node (or a restart) retries them only after the lease.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDelivery records an attempt. With next zero the delivery is
	// over (delivered, or failed for good); otherwise it is retried then.
	FinishDelivery(ctx context.Context, d Delivery, a Attempt, next time.Time) error
}

// WebhookStats reads the delivery queue's backlog, for the metrics.
type WebhookStats interface {
	// WebhookBacklog counts the deliveries not made yet and gives the
	// oldest one's creation time (zero if none).
	WebhookBacklog(ctx context.Context) (int, time.Time, error)
}

// backlogCap bounds the events counted behind one webhook's cursor, so
// that a scrape stays cheap when a receiver has been down for long.
const backlogCap = 100_000

func (s *sqlStore) WebhookBacklog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n, &oldest)
	if err != nil {
		return n, time.Time{}, s.wrap(err, "webhook backlog")
	}
	// And the events behind each event webhook's cursor: their count (up
	// to backlogCap a webhook) and the oldest's time.
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM events e WHERE e.cluster_id = w.cluster_id AND e.seq > w.event_cursor LIMIT ?) b),
		(SELECT e.at FROM events e WHERE e.cluster_id = w.cluster_id AND e.seq > w.event_cursor ORDER BY e.seq LIMIT 1)
		FROM webhooks w`), backlogCap)
	if err != nil {
		return n, time.Time{}, s.wrap(err, "webhook backlog")
	}
	defer rows.Close()
	for rows.Next() {
		var c int
		var at sql.NullInt64
		if err := rows.Scan(&c, &at); err != nil {
			return n, time.Time{}, s.wrap(err, "webhook backlog")
		}
		n += c
		if at.Valid && (!oldest.Valid || at.Int64 < oldest.Int64) {
			oldest = at
		}
	}
	if err := rows.Err(); err != nil || !oldest.Valid {
		return n, time.Time{}, s.wrap(err, "webhook backlog")
	}
	return n, fromMicros(oldest.Int64), nil
}

// Webhook is an HTTPS endpoint of a cluster that receives events.
type Webhook struct {
	ID        string
	ClusterID string
	URL       string
	// Events are the event names it receives; "*" is every event.
	Events    []string
	Secret    string
	CreatedAt time.Time
	// Last is the most recent delivery attempt, if any.
	Last *Attempt
	// MaxBatch is the most events one delivery carries.
	MaxBatch int
	// Cursor is the Seq of the last event delivered (or passed over).
	Cursor int64
	// Attempts are the failed attempts of the batch after Cursor.
	Attempts int
}

// DefaultMaxBatch is a webhook's max_batch when none is given.
const DefaultMaxBatch = 100

// EventBatch is the next events after a webhook's cursor that it
// subscribes to, up to its MaxBatch.
type EventBatch struct {
	Webhook Webhook
	Events  []Event
	// Last is the Seq the cursor moves to once the batch is delivered
	// (past events of other types read on the way).
	Last int64
}

// WebhookEvents hands the clusters' events to their webhooks from each
// webhook's cursor: what is stored is delivered, at least once, in order.
type WebhookEvents interface {
	// ClaimEventBatches leases, for lease, up to limit webhooks that are
	// due and have events after their cursor, each with its next batch.
	ClaimEventBatches(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]EventBatch, error)
	// FinishEventBatch records an attempt of b: with next zero the
	// cursor moves to b.Last (delivered, or given up); otherwise the
	// batch is tried again then.
	FinishEventBatch(ctx context.Context, b EventBatch, a Attempt, next time.Time) error
}

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID        string
	WebhookID string
	URL       string
	Secret    string
	Event     string
	Payload   []byte
	// Attempts made before this one.
	Attempts  int
	CreatedAt time.Time
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	At time.Time `json:"at"`
	// Status is delivered, retrying or failed.
	Status string `json:"status"`
	Code   int    `json:"code"`
	Error  string `json:"error"`
}

func (s *sqlStore) ClaimEventBatches(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]EventBatch, error) {
	hooks, err := claim(ctx, s, "claim event webhooks", "webhooks",
		`EXISTS (SELECT 1 FROM events e WHERE e.cluster_id = webhooks.cluster_id AND e.seq > webhooks.event_cursor)`, webhookCols, scanWebhook,
		now, lease, limit)
	if err != nil {
		return nil, err
	}
	out := make([]EventBatch, 0, len(hooks))
	for _, w := range hooks {
		b := EventBatch{Webhook: w, Last: w.Cursor}
		// Read past events of other types, a few batches' worth at most.
		evs, err := s.Events(ctx, w.ClusterID, EventQuery{After: w.Cursor, Limit: min(4*max(w.MaxBatch, 1), 1000)})
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			b.Last = e.Seq
			if slices.Contains(w.Events, string(e.Type)) || slices.Contains(w.Events, "*") {
				b.Events = append(b.Events, e)
				if len(b.Events) == w.MaxBatch {
					break
				}
			}
		}
		out = append(out, b)
	}
	return out, nil
}

func (s *sqlStore) FinishEventBatch(ctx context.Context, b EventBatch, a Attempt, next time.Time) error {
	var err error
	switch {
	case len(b.Events) == 0: // nothing it takes: only the cursor moves
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE webhooks SET event_cursor = ?, attempts = 0, next_attempt_at = 0
			WHERE id = ? AND event_cursor = ?`), b.Last, b.Webhook.ID, b.Webhook.Cursor)
	case next.IsZero():
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE webhooks SET event_cursor = ?, attempts = 0, next_attempt_at = 0,
			last_status = ?, last_code = ?, last_error = ?, last_at = ? WHERE id = ? AND event_cursor = ?`),
			b.Last, a.Status, a.Code, a.Error, micros(a.At), b.Webhook.ID, b.Webhook.Cursor)
	default:
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE webhooks SET attempts = attempts + 1, next_attempt_at = ?,
			last_status = ?, last_code = ?, last_error = ?, last_at = ? WHERE id = ? AND event_cursor = ?`),
			micros(next), a.Status, a.Code, a.Error, micros(a.At), b.Webhook.ID, b.Webhook.Cursor)
	}
	return s.wrap(err, "finish the event batch of webhook "+b.Webhook.ID)
}
