package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
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

// EventLoads moves events from the nodes' journals into the store
// (internal/ingest), each journal's records once.
type EventLoads interface {
	// JournalOffset is how far a journal has been loaded (0: not at all).
	JournalOffset(ctx context.Context, journalID string) (int64, error)
	// LoadEvents stores the events read from a journal between offsets
	// from and to, in one transaction with the journal's new offset. If
	// the stored offset is not from (another loader, a restored backup),
	// nothing is stored and the error wraps ErrOffsetMoved; a journal's
	// first load may start anywhere.
	LoadEvents(ctx context.Context, journalID string, from, to int64, events []Event) error
}

// ErrOffsetMoved: a journal's stored offset is not where its loader
// thought.
var ErrOffsetMoved = errors.New("journal offset moved")

// Event is one tracking event: an open, a click, an unsubscribe, ….
type Event struct {
	// Seq is the store's order of events (the cursor), assigned when the
	// event is stored: a later transaction always has larger ones.
	Seq int64
	// ID is the event's stable name (webhooks' Waymark-Event-Id): 16 hex
	// digits of Unix microseconds, then 8 random.
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
// microseconds, then 8 random hex digits. The random part only keeps ids
// of one microsecond apart, so math/rand's generator (ChaCha8, seeded
// from the system) does, without a system call per click.
func NewEventID(at time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixMicro()))
	binary.BigEndian.PutUint32(b[8:], mrand.Uint32())
	return hex.EncodeToString(b[:])
}

// EventQuery filters Events.
type EventQuery struct {
	Type      event.Type
	MessageID string
	Since     time.Time
	// After is the cursor: the Seq of the last event of the previous page.
	After int64
	Limit int
	// Newest lists the newest first; the cursor then pages back in time.
	Newest bool
}

const eventCols = `seq, id, cluster_id, type, at, message_id, recipient, url, host, client_ip, user_agent, class, reason`

func (s *sqlStore) InsertEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, events) })
	return s.wrap(err, fmt.Sprintf("insert %d events", len(events)))
}

// insertEvents writes events in tx with multi-row INSERTs, in chunks
// under SQLite's 32766 variables, and gives them their Seq. Events of a
// cluster deleted meanwhile (an edge that decoded a link just before) are
// dropped: the clusters are read in tx, on PostgreSQL FOR SHARE, which
// DeleteCluster's last transaction waits for, so no event outlives its
// cluster. The sequence comes from event_seq's one row, whose lock the
// transaction then holds: transactions writing events commit in the order
// of their sequence numbers, so a reader paging by Seq never passes one
// that commits later (docs/ARCHITECTURE.md#events).
func (s *sqlStore) insertEvents(ctx context.Context, tx *sql.Tx, events []Event) error {
	const perRow, chunk = 13, eventsChunk
	if len(events) == 0 {
		return nil
	}
	events, err := s.liveClusters(ctx, tx, events)
	if err != nil || len(events) == 0 {
		return err
	}
	var last int64
	if err := tx.QueryRowContext(ctx, s.q(`UPDATE event_seq SET last = last + ? RETURNING last`), len(events)).Scan(&last); err != nil {
		return fmt.Errorf("event sequence: %w", err)
	}
	afterSeq()
	first := last - int64(len(events)) + 1
	for i := range events {
		events[i].Seq = first + int64(i)
	}
	var full *sql.Stmt
	args := make([]any, 0, min(len(events), chunk)*perRow)
	for start := 0; start < len(events); start += chunk {
		batch := events[start:min(start+chunk, len(events))]
		args = args[:0]
		for _, e := range batch {
			args = append(args, e.Seq, e.ID, e.ClusterID, string(e.Type), micros(e.At), e.MessageID, e.Recipient, e.URL,
				e.Host, e.ClientIP, e.UserAgent, string(e.Class), e.Reason)
		}
		// A full chunk's statement is prepared once for the store.
		if len(batch) == chunk {
			if full == nil {
				if full, err = s.stmt(ctx, tx, fullInsertEvents); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, s.q(insertEventsSQL(len(batch))), args...)
		}
		if err != nil {
			return err
		}
	}
	return s.rollUp(ctx, tx, events)
}

// afterSeq runs between taking sequence numbers and storing the events;
// tests widen that window to race the commits of other writers.
var afterSeq = func() {}

// eventsChunk is how many events one INSERT stores.
const eventsChunk = 500

var fullInsertEvents = insertEventsSQL(eventsChunk)

// insertEventsSQL is the INSERT of n events.
func insertEventsSQL(n int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO events (` + eventCols + `) VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return sb.String()
}

func (s *sqlStore) JournalOffset(ctx context.Context, journalID string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT loaded FROM journal_offsets WHERE journal_id = ?`), journalID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, s.wrap(err, "journal offset of "+journalID)
}

func (s *sqlStore) LoadEvents(ctx context.Context, journalID string, from, to int64, events []Event) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var have int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT loaded FROM journal_offsets WHERE journal_id = ?`)+s.d.forUpdate, journalID).Scan(&have)
		switch {
		case errors.Is(err, sql.ErrNoRows): // a journal's first load, wherever it starts
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO journal_offsets (journal_id, loaded, updated_at) VALUES (?, ?, ?)`),
				journalID, to, micros(time.Now())); err != nil {
				return err
			}
		case err != nil:
			return err
		case have != from:
			return fmt.Errorf("%w: journal %s is loaded to %d, the loader is at %d", ErrOffsetMoved, journalID, have, from)
		default:
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE journal_offsets SET loaded = ?, updated_at = ? WHERE journal_id = ?`),
				to, micros(time.Now()), journalID); err != nil {
				return err
			}
		}
		return s.insertEvents(ctx, tx, events)
	})
	return s.wrap(err, fmt.Sprintf("load %d events of journal %s", len(events), journalID))
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
	cmp, order := ` AND seq > ?`, ` ORDER BY seq`
	if q.Newest {
		cmp, order = ` AND seq < ?`, ` ORDER BY seq DESC`
	}
	if q.After > 0 {
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
		err := r.Scan(&e.Seq, &e.ID, &e.ClusterID, &e.Type, &at, &e.MessageID, &e.Recipient, &e.URL, &e.Host,
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
