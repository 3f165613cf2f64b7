package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EventRetention removes old raw events in bulk (docs/OPERATIONS.md#retention).
type EventRetention interface {
	// ExpireStats removes the rollups of the hours before before.
	ExpireStats(ctx context.Context, before time.Time) (int64, error)
	// ExpireEvents removes the events that happened before before and
	// returns how many it removed (on PostgreSQL whole days are dropped
	// and not counted: their count is -1 when any was). It also prepares
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
	var removed int64
	if s.d.name == "postgres" {
		n, err := s.expirePartitions(ctx, before, now)
		if err != nil {
			return removed, err
		}
		removed += n
	}
	// Batched deletes: SQLite's whole table; on PostgreSQL what fell in
	// the default partition (days without their own). In store order,
	// from the first: each step looks at the first batch of events and
	// deletes those before the cutoff, until a step finds none (events
	// are stored about in the order they happen, so the old ones lead;
	// no index on at is kept up for this).
	table, order := "events", "seq"
	if s.d.name == "postgres" {
		table = "events_default"
	}
	for {
		res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE seq IN (SELECT seq FROM
			(SELECT seq, at FROM `+table+` ORDER BY `+order+` LIMIT ?) oldest WHERE at < ?)`), expireBatch, micros(before))
		if err != nil {
			return removed, s.wrap(err, "expire events")
		}
		n, err := res.RowsAffected()
		if err != nil {
			return removed, s.wrap(err, "expire events")
		}
		removed += n
		if n == 0 {
			break
		}
		select { // let the loader's transactions in between
		case <-ctx.Done():
			return removed, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The firsts behind the uniques: an open or click after that counts
	// as a first again. And the offsets of journals not loaded from for as
	// long.
	if _, err := s.deleteBatched(ctx, `DELETE FROM event_firsts WHERE h IN (SELECT h FROM event_firsts WHERE at < ? LIMIT ?)`, micros(before)); err != nil {
		return removed, s.wrap(err, "expire event firsts")
	}
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM journal_offsets WHERE updated_at < ?`), micros(before))
	return removed, s.wrap(err, "expire journal offsets")
}

func (s *sqlStore) ExpireStats(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.deleteBatched(ctx, `DELETE FROM event_stats WHERE (cluster_id, dim, value, hour) IN
		(SELECT cluster_id, dim, value, hour FROM event_stats WHERE hour < ? LIMIT ?)`, micros(before))
	return n, s.wrap(err, "expire stats")
}

// deleteBatched runs a DELETE of expireBatch rows (its last two
// arguments: arg, then the batch) until one deletes fewer.
func (s *sqlStore) deleteBatched(ctx context.Context, query string, arg any) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.q(query), arg, expireBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < expireBatch {
			return total, nil
		}
	}
}

// expirePartitions drops the day partitions wholly before before and
// makes those of the next week; a day that already has rows in the
// default partition keeps them there. Every DDL statement waits at most
// 2 s for its lock, so a long reader of events delays the retention,
// never the loader behind it.
func (s *sqlStore) expirePartitions(ctx context.Context, before, now time.Time) (int64, error) {
	names, err := queryAll(ctx, s, "partitions", func(r scanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	}, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events\_2%'`)
	if err != nil {
		return 0, err
	}
	have := map[string]bool{}
	var dropped int64
	for _, name := range names {
		have[name] = true
		t, err := time.Parse("20060102", strings.TrimPrefix(name, "events_"))
		if err != nil || t.Add(24*time.Hour).After(before) {
			continue // not a day's partition, or a day not wholly before
		}
		if err := s.ddl(ctx, `DROP TABLE `+name); err != nil {
			return dropped, fmt.Errorf("dropping %s: %w", name, err)
		}
		dropped = -1
	}
	for d := day(now) - 1; d <= day(now)+7; d++ {
		name := partitionName(d)
		if have[name] {
			continue
		}
		err := s.ddl(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF events FOR VALUES FROM (%d) TO (%d)`,
			name, d*86400_000_000, (d+1)*86400_000_000))
		if err != nil && !strings.Contains(err.Error(), "would be violated") { // rows of that day in the default partition
			return dropped, fmt.Errorf("making %s: %w", name, err)
		}
	}
	return dropped, nil
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
