package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
)

// Events holds tracking and mail events.
type Events interface {
	// InsertEvents stores events in one transaction.
	InsertEvents(ctx context.Context, events []Event) error
	// Events lists a cluster's events, oldest first, after a cursor.
	Events(ctx context.Context, clusterID string, q EventQuery) ([]Event, error)
}

// Event is one tracking event: an open, a click, an unsubscribe, ….
type Event struct {
	// ID sorts by time: 16 hex digits of Unix microseconds, then 8 random.
	ID        string
	ClusterID string
	Type      event.Type
	At        time.Time
	MessageID string
	Recipient string
	URL       string
	Host      string
	ClientIP  string
	UserAgent string
	// Class is who made a tracking request (human, bot, proxy) or how
	// final a bounce is (hard, soft, failed); Reason says why.
	Class  event.Class
	Reason string
}

// NewEventID returns an id that sorts by time: 16 hex digits of Unix
// microseconds, then 8 random hex digits.
func NewEventID(at time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%016x%s", at.UnixMicro(), hex.EncodeToString(b))
}

// EventQuery filters Events.
type EventQuery struct {
	Type      event.Type
	MessageID string
	Since     time.Time
	// After is the cursor: the ID of the last event of the previous page.
	After string
	Limit int
	// Newest lists the newest first; the cursor then pages back in time.
	Newest bool
}

const eventCols = `id, cluster_id, type, at, message_id, recipient, url, host, client_ip, user_agent, class, reason`

func (s *sqlStore) InsertEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, events) })
	return s.wrap(err, fmt.Sprintf("insert %d events", len(events)))
}

// insertEvents writes events in tx with multi-row INSERTs, in chunks
// under SQLite's 32766 variables. Events of a cluster deleted meanwhile
// (an edge that decoded a link just before) are dropped: the clusters are
// read in tx, on PostgreSQL FOR SHARE, which DeleteCluster's last
// transaction waits for, so no event outlives its cluster.
func (s *sqlStore) insertEvents(ctx context.Context, tx *sql.Tx, events []Event) error {
	const perRow, chunk = 12, 500
	events, err := s.liveClusters(ctx, tx, events)
	if err != nil {
		return err
	}
	for start := 0; start < len(events); start += chunk {
		batch := events[start:min(start+chunk, len(events))]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO events (` + eventCols + `) VALUES `)
		args := make([]any, 0, len(batch)*perRow)
		for i, e := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, e.ID, e.ClusterID, string(e.Type), micros(e.At), e.MessageID, e.Recipient, e.URL,
				e.Host, e.ClientIP, e.UserAgent, string(e.Class), e.Reason)
		}
		if _, err := tx.ExecContext(ctx, s.q(sb.String()), args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) Events(ctx context.Context, clusterID string, q EventQuery) ([]Event, error) {
	query := `SELECT ` + eventCols + ` FROM events WHERE cluster_id = ?`
	args := []any{clusterID}
	if q.Type != "" {
		query += ` AND type = ?`
		args = append(args, string(q.Type))
	}
	if q.MessageID != "" {
		query += ` AND message_id = ?`
		args = append(args, q.MessageID)
	}
	if !q.Since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, micros(q.Since))
	}
	cmp, order := ` AND id > ?`, ` ORDER BY id`
	if q.Newest {
		cmp, order = ` AND id < ?`, ` ORDER BY id DESC`
	}
	if q.After != "" {
		query += cmp
		args = append(args, q.After)
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query += order + ` LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, s, "events", func(r scanner) (Event, error) {
		var e Event
		var at int64
		err := r.Scan(&e.ID, &e.ClusterID, &e.Type, &at, &e.MessageID, &e.Recipient, &e.URL, &e.Host,
			&e.ClientIP, &e.UserAgent, &e.Class, &e.Reason)
		e.At = fromMicros(at)
		return e, err
	}, query, args...)
}

// liveClusters returns the events whose cluster still exists.
func (s *sqlStore) liveClusters(ctx context.Context, tx *sql.Tx, events []Event) ([]Event, error) {
	ids := map[string]bool{}
	for _, e := range events {
		ids[e.ClusterID] = false
	}
	list := make([]any, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	lock := ""
	if s.d.forUpdate != "" {
		lock = " FOR SHARE"
	}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id FROM clusters WHERE id IN (?`+strings.Repeat(", ?", len(list)-1)+`)`)+lock, list...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	kept := events[:0:0]
	for _, e := range events {
		if ids[e.ClusterID] {
			kept = append(kept, e)
		}
	}
	return kept, nil
}
