package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/stats"
)

// EventRetention removes old raw events in bulk (docs/OPERATIONS.md#retention).
type EventRetention interface {
	// ExpireStats removes the rollups of the hours before before.
	ExpireStats(ctx context.Context, before time.Time) (int64, error)
	// ExpireEvents removes the events that happened before before and
	// returns how many rows it deleted (whole days dropped on PostgreSQL
	// are not counted). It also prepares
	// the partitions of the days ahead of now. It works in short steps,
	// so the loader's transactions are never held up for long.
	ExpireEvents(ctx context.Context, before, now time.Time) (int64, error)
}

// day is a day number: Unix days since 1970-01-01 UTC.
func day(t time.Time) int64 { return t.UTC().Unix() / 86400 }

// partitionName is the PostgreSQL partition of events for day d.
func partitionName(d int64) string {
	return "events_" + time.Unix(d*86400, 0).UTC().Format("20060102")
}

// expireBatch is how many events one step of expiry deletes; each step
// is its own transaction.
const expireBatch = 5000

func (s *sqlStore) ExpireEvents(ctx context.Context, before, now time.Time) (int64, error) {
	if s.d.name == "postgres" {
		if err := s.expirePartitions(ctx, before, now); err != nil {
			return 0, err
		}
	}
	// Batched deletes: SQLite's whole table; on PostgreSQL what fell in
	// the default partition (days without their own). In store order,
	// from the first: each step looks at the first batch of events and
	// deletes those before the cutoff, until a step finds none (events
	// are stored about in the order they happen, so the old ones lead;
	// no index on at is kept up for this).
	table := "events"
	if s.d.name == "postgres" {
		table = "events_default"
	}
	removed, err := s.deleteInSteps(ctx, `DELETE FROM `+table+` WHERE seq IN (SELECT seq FROM
		(SELECT seq, at FROM `+table+` ORDER BY seq LIMIT ?) oldest WHERE at < ?)`, expireBatch, micros(before))
	if err != nil {
		return removed, s.wrap(err, "expire events")
	}
	// The firsts behind the uniques: an open or click after that counts
	// as a first again. And the offsets of journals not loaded from for as
	// long.
	if _, err := s.deleteInSteps(ctx, `DELETE FROM event_firsts WHERE h IN (SELECT h FROM event_firsts WHERE at < ? LIMIT ?)`, micros(before), expireBatch); err != nil {
		return removed, s.wrap(err, "expire event firsts")
	}
	_, err = s.db.ExecContext(ctx, s.q(`DELETE FROM journal_offsets WHERE updated_at < ?`), micros(before))
	return removed, s.wrap(err, "expire journal offsets")
}

func (s *sqlStore) ExpireStats(ctx context.Context, before time.Time) (int64, error) {
	// Whole hours only: an hour that ends after the cutoff still counts
	// events that are kept.
	n, err := s.deleteInSteps(ctx, `DELETE FROM event_stats WHERE (cluster_id, dim, value, hour) IN
		(SELECT cluster_id, dim, value, hour FROM event_stats WHERE hour < ? LIMIT ?)`, stats.HourOf(before), expireBatch)
	if err == nil {
		// A message's sending domain goes once the message is older than
		// the cutoff and no rollup of it is left (its last event is older
		// too): a message still clicked keeps it.
		_, err = s.deleteInSteps(ctx, `DELETE FROM message_domains WHERE (cluster_id, message_id) IN
			(SELECT cluster_id, message_id FROM message_domains md WHERE created_at < ? AND NOT EXISTS
				(SELECT 1 FROM event_stats es WHERE es.cluster_id = md.cluster_id AND es.dim = 'message' AND es.value = md.message_id)
			LIMIT ?)`, micros(before), expireBatch)
	}
	return n, s.wrap(err, "expire stats")
}

// deleteInSteps runs a DELETE of at most expireBatch rows until a step
// deletes none, each step its own transaction with a pause after it, so
// the loader's transactions get in between.
func (s *sqlStore) deleteInSteps(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q(query), args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// expirePartitions drops the day partitions wholly before before and
// makes those of the next week; a day that already has rows in the
// default partition keeps them there. Every DDL statement waits at most
// 2 s for its lock, so a long reader of events delays the retention,
// never the loader behind it.
func (s *sqlStore) expirePartitions(ctx context.Context, before, now time.Time) error {
	names, err := queryAll(ctx, s, "partitions", func(r scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	}, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events\_2%'`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, name := range names {
		have[name] = true
		t, err := time.Parse("20060102", strings.TrimPrefix(name, "events_"))
		if err != nil || t.Add(24*time.Hour).After(before) {
			continue // not a day's partition, or a day not wholly before
		}
		if err := s.ddl(ctx, `DROP TABLE `+name); err != nil {
			return fmt.Errorf("dropping %s: %w", name, err)
		}
	}
	for d := day(now) - 1; d <= day(now)+7; d++ {
		name := partitionName(d)
		if have[name] {
			continue
		}
		err := s.ddl(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF events FOR VALUES FROM (%d) TO (%d)`,
			name, d*86400_000_000, (d+1)*86400_000_000))
		if err != nil && !strings.Contains(err.Error(), "would be violated") { // rows of that day in the default partition
			return fmt.Errorf("making %s: %w", name, err)
		}
	}
	return nil
}

// ddl runs one statement in its own transaction with a lock timeout.
func (s *sqlStore) ddl(ctx context.Context, stmt string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	return tx.Commit()
}
