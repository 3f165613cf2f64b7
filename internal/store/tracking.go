package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

func (s *sqlStore) AddTokenKey(ctx context.Context, clusterID string, secret []byte, now time.Time) (uint32, error) {
	var id uint32
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, clusterID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COALESCE(MAX(key_id), 0) + 1 FROM token_keys WHERE cluster_id = ?`),
			clusterID).Scan(&id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO token_keys (cluster_id, key_id, secret, created_at) VALUES (?, ?, ?, ?)`),
			clusterID, id, base64.StdEncoding.EncodeToString(secret), micros(now))
		return err
	})
	return id, s.wrap(err, "add token key")
}

func (s *sqlStore) TokenKeys(ctx context.Context, clusterID string) ([]TokenKey, error) {
	return queryAll(ctx, s, "token keys", func(r scanner) (TokenKey, error) {
		var k TokenKey
		var secret string
		var created int64
		if err := r.Scan(&k.ID, &secret, &created); err != nil {
			return k, err
		}
		var err error
		k.Secret, err = base64.StdEncoding.DecodeString(secret)
		k.CreatedAt = fromMicros(created)
		return k, err
	}, `SELECT key_id, secret, created_at FROM token_keys WHERE cluster_id = ? ORDER BY key_id`, clusterID)
}

func (s *sqlStore) ActiveHosts(ctx context.Context) (map[string]string, error) {
	type pair struct{ name, cluster string }
	pairs, err := queryAll(ctx, s, "active hosts", func(r scanner) (p pair, err error) {
		return p, r.Scan(&p.name, &p.cluster)
	}, `SELECT name, cluster_id FROM tracking_domains WHERE status = 'active'`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		// One name may be active in two clusters: the edge cannot tell them
		// apart by host, so it serves neither until one is removed.
		if other, ok := out[p.name]; ok && other != p.cluster {
			out[p.name] = ""
			continue
		}
		out[p.name] = p.cluster
	}
	return out, nil
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
// under SQLite's 32766 variables.
func (s *sqlStore) insertEvents(ctx context.Context, tx *sql.Tx, events []Event) error {
	const perRow, chunk = 12, 500
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
			args = append(args, e.ID, e.ClusterID, e.Type, micros(e.At), e.MessageID, e.Recipient, e.URL,
				e.Host, e.ClientIP, e.UserAgent, e.Class, e.Reason)
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
		args = append(args, q.Type)
	}
	if q.MessageID != "" {
		query += ` AND message_id = ?`
		args = append(args, q.MessageID)
	}
	if !q.Since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, micros(q.Since))
	}
	if q.After != "" {
		query += ` AND id > ?`
		args = append(args, q.After)
	}
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query += ` ORDER BY id LIMIT ?`
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

func (s *sqlStore) Suppress(ctx context.Context, clusterID, address, reason string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO suppressions (cluster_id, address, reason, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (cluster_id, address) DO NOTHING`), clusterID, strings.ToLower(address), reason, micros(now))
	return s.wrap(err, "suppress")
}

func (s *sqlStore) Suppressed(ctx context.Context, clusterID, address string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM suppressions WHERE cluster_id = ? AND address = ?`),
		clusterID, strings.ToLower(address)).Scan(&n)
	return n > 0, s.wrap(err, "suppressed")
}
