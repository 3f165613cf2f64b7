package store

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
)

// Suppressions holds each cluster's list of addresses it must not mail.
type Suppressions interface {
	// Suppress puts an address on a cluster's suppression list, with where
	// it came from; an address already there keeps its first reason.
	Suppress(ctx context.Context, clusterID, address string, reason event.Reason, source string, now time.Time) error
	// Suppressed reports whether an address is on the cluster's list.
	Suppressed(ctx context.Context, clusterID, address string) (bool, error)
}

// SuppressionList reads and changes the list as its owner does: with the
// source of each entry, by page, one address at a time.
type SuppressionList interface {
	// AddSuppression adds one entry; one already there is ErrDuplicate
	// (and keeps its first reason).
	AddSuppression(ctx context.Context, clusterID string, e Suppression) error
	// AddSuppressions adds many entries in one transaction and returns how
	// many were new; those already there keep their first reason.
	AddSuppressions(ctx context.Context, clusterID string, list []Suppression) (added int, err error)
	// ListSuppressions lists a cluster's entries by address, after the
	// address q.After, of q.Reason if set, starting with q.Prefix.
	ListSuppressions(ctx context.Context, clusterID string, q SuppressionQuery) ([]Suppression, error)
	// Unsuppress removes an address from the list, or ErrNotFound.
	Unsuppress(ctx context.Context, clusterID, address string) error
}

// Suppression is one entry of a cluster's list.
type Suppression struct {
	Address string
	Reason  event.Reason
	// Source is where it came from: "message msg_…" (an unsubscribe, a
	// bounce, a complaint), "api", "csv import".
	Source    string
	CreatedAt time.Time
}

// SuppressionQuery selects a page of a list.
type SuppressionQuery struct {
	Reason        event.Reason
	Prefix, After string
	Limit         int
}

func (s *sqlStore) Suppress(ctx context.Context, clusterID, address string, reason event.Reason, source string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO suppressions (cluster_id, address, reason, created_at, source)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster_id, address) DO NOTHING`), clusterID, strings.ToLower(address), string(reason), micros(now), source)
	return s.wrap(err, "suppress")
}

func (s *sqlStore) AddSuppressions(ctx context.Context, clusterID string, list []Suppression) (int, error) {
	added := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		st, err := tx.PrepareContext(ctx, s.q(`INSERT INTO suppressions (cluster_id, address, reason, created_at, source)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster_id, address) DO NOTHING`))
		if err != nil {
			return err
		}
		defer st.Close()
		for _, e := range list {
			res, err := st.ExecContext(ctx, clusterID, strings.ToLower(e.Address), string(e.Reason), micros(e.CreatedAt), e.Source)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += int(n)
		}
		return nil
	})
	return added, s.wrap(err, "add suppressions")
}

func (s *sqlStore) AddSuppression(ctx context.Context, clusterID string, e Suppression) error {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO suppressions (cluster_id, address, reason, created_at, source)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster_id, address) DO NOTHING`),
		clusterID, strings.ToLower(e.Address), string(e.Reason), micros(e.CreatedAt), e.Source)
	if err != nil {
		return s.wrap(err, "add suppression")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDuplicate
	}
	return nil
}

func (s *sqlStore) ListSuppressions(ctx context.Context, clusterID string, q SuppressionQuery) ([]Suppression, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	// The prefix is matched as a range, not with LIKE: no wildcard in an
	// address can widen it.
	prefix := strings.ToLower(q.Prefix)
	return queryAll(ctx, s, "suppressions", func(r scanner) (Suppression, error) {
		var e Suppression
		var at int64
		err := r.Scan(&e.Address, &e.Reason, &e.Source, &at)
		e.CreatedAt = fromMicros(at)
		return e, err
	}, `SELECT address, reason, source, created_at FROM suppressions
		WHERE cluster_id = ? AND address > ? AND (? = '' OR reason = ?) AND address >= ? AND (? = '' OR address < ?)
		ORDER BY address LIMIT ?`,
		clusterID, strings.ToLower(q.After), string(q.Reason), string(q.Reason), prefix, prefix, prefix+"\U0010FFFF", q.Limit)
}

func (s *sqlStore) Unsuppress(ctx context.Context, clusterID, address string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM suppressions WHERE cluster_id = ? AND address = ?`), clusterID, strings.ToLower(address))
	if err != nil {
		return s.wrap(err, "unsuppress")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

func (s *sqlStore) Suppressed(ctx context.Context, clusterID, address string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM suppressions WHERE cluster_id = ? AND address = ?`),
		clusterID, strings.ToLower(address)).Scan(&n)
	return n > 0, s.wrap(err, "suppressed")
}
