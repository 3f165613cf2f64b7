package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Keys holds a cluster's API keys beyond the first, which CreateCluster
// stores (docs/CONCEPTS.md#api-keys). A key is kept only as its hash.
type Keys interface {
	// CreateKey stores a key of a cluster that has fewer than max (a
	// *QuotaError otherwise; max 0 is no bound). A missing cluster is
	// ErrNotFound.
	CreateKey(ctx context.Context, k APIKey, max int) error
	// APIKeys lists a cluster's keys, oldest first.
	APIKeys(ctx context.Context, clusterID string) ([]APIKey, error)
	// RevokeKey deletes a key and the dashboard sessions opened with it,
	// in one transaction, and returns it; ErrNotFound if the cluster has
	// no such key.
	RevokeKey(ctx context.Context, clusterID, id string) (APIKey, error)
}

// APIKey is one key of a cluster. Its ID is KeyID of its hash.
type APIKey struct {
	ID, ClusterID, Label string
	Hash                 string
	CreatedAt            time.Time
}

// KeyID is the id of the key with this hash: "key_" and the hash's first
// 16 hex digits. The hash of a random 160-bit key tells nothing of the key,
// and migration 22 gave the keys stored before it their ids the same way.
func KeyID(hash string) string {
	if len(hash) > 16 {
		hash = hash[:16]
	}
	return "key_" + hash
}

const keyCols = `id, cluster_id, label, hash, created_at`

func scanKey(r scanner) (APIKey, error) {
	var k APIKey
	var created int64
	err := r.Scan(&k.ID, &k.ClusterID, &k.Label, &k.Hash, &created)
	k.CreatedAt = fromMicros(created)
	return k, err
}

func (s *sqlStore) CreateKey(ctx context.Context, k APIKey, max int) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM clusters WHERE id = ?`)+s.d.forUpdate, k.ClusterID).Scan(&id); err != nil {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM api_keys WHERE cluster_id = ?`), k.ClusterID).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return &QuotaError{What: "API keys", Count: n}
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?)`),
			k.ID, k.ClusterID, k.Label, k.Hash, micros(k.CreatedAt))
		return err
	})
	return s.wrap(err, "create API key")
}

func (s *sqlStore) APIKeys(ctx context.Context, clusterID string) ([]APIKey, error) {
	return queryAll(ctx, s, "API keys", scanKey, `SELECT `+keyCols+` FROM api_keys WHERE cluster_id = ? ORDER BY created_at, id`, clusterID)
}

func (s *sqlStore) RevokeKey(ctx context.Context, clusterID, id string) (APIKey, error) {
	var k APIKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		k, err = scanKey(tx.QueryRowContext(ctx, s.q(`SELECT `+keyCols+` FROM api_keys WHERE cluster_id = ? AND id = ?`)+s.d.forUpdate, clusterID, id))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE key_hash = ?`), k.Hash); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`DELETE FROM api_keys WHERE hash = ?`), k.Hash)
		return err
	})
	return k, s.wrap(err, "revoke API key "+id)
}

// deleteBatch is how many rows of a big table one step of DeleteCluster
// removes: each step is its own short transaction, so that other clusters'
// writes wait for one step at most, never for the whole delete (SQLite has
// one writer at a time).
const deleteBatch = 5000

// DeleteCluster removes a cluster and everything of it. First its keys and
// their sessions go, in one transaction, so nobody acts in it any more;
// then its big tables (events, suppressions, saved and queued mail with
// the reports counted for it) are emptied a batch at a time; last, one
// transaction deletes the cluster row, which cascades to what is left
// (domains and their DKIM keys, webhooks and their deliveries, delivery
// servers, token keys), and moves the zone's serial, so every node's DNS
// server and edge drop its names. Interrupted, the cluster is still there,
// without its keys and with part of its history: deleting it again
// finishes.
func (s *sqlStore) DeleteCluster(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var found string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM clusters WHERE id = ?`)+s.d.forUpdate, id).Scan(&found); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE key_hash IN (SELECT hash FROM api_keys WHERE cluster_id = ?)`,
			`DELETE FROM api_keys WHERE cluster_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap(err, "delete cluster "+id)
	}
	for _, q := range []string{
		`DELETE FROM events WHERE cluster_id = ? AND seq IN (SELECT seq FROM events WHERE cluster_id = ? LIMIT ?)`,
		`DELETE FROM suppressions WHERE cluster_id = ? AND address IN (SELECT address FROM suppressions WHERE cluster_id = ? LIMIT ?)`,
		`DELETE FROM reports WHERE mail_id IN (SELECT r.mail_id FROM reports r JOIN mail_queue m ON m.id = r.mail_id WHERE m.cluster_id = ? LIMIT ?)`,
		`DELETE FROM mail_queue WHERE id IN (SELECT id FROM mail_queue WHERE cluster_id = ? LIMIT ?)`,
		`DELETE FROM messages WHERE cluster_id = ? AND id IN (SELECT id FROM messages WHERE cluster_id = ? LIMIT ?)`,
	} {
		args := []any{id, deleteBatch}
		if strings.Count(q, "?") == 3 {
			args = []any{id, id, deleteBatch}
		}
		for {
			res, err := s.db.ExecContext(ctx, s.q(q), args...)
			if err != nil {
				return s.wrap(err, "delete cluster "+id)
			}
			if n, err := res.RowsAffected(); err != nil || n < deleteBatch {
				break
			}
		}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// The row lock first: events being written for the cluster (their
		// transaction holds it FOR SHARE) commit before its events are
		// deleted below, and none are written after.
		var found string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM clusters WHERE id = ?`)+s.d.forUpdate, id).Scan(&found); err != nil {
			return err
		}
		// The certificates of its tracking hosts (certmagic's files,
		// certificates/<issuer>/<name>/…), unless another cluster has the
		// name too.
		names, err := queryTx(ctx, tx, s, `SELECT name FROM tracking_domains t WHERE cluster_id = ?
			AND NOT EXISTS (SELECT 1 FROM tracking_domains o WHERE o.name = t.name AND o.cluster_id <> t.cluster_id)`, id)
		if err != nil {
			return err
		}
		for _, name := range names {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM blobs WHERE key LIKE ? ESCAPE '\'`), "certificates/%/"+likePrefix(name+"/")); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM sessions WHERE key_hash IN (SELECT hash FROM api_keys WHERE cluster_id = ?)`,
			`DELETE FROM reports WHERE mail_id IN (SELECT id FROM mail_queue WHERE cluster_id = ?)`,
			`DELETE FROM events WHERE cluster_id = ?`,
			`DELETE FROM event_stats WHERE cluster_id = ?`,
			`DELETE FROM clusters WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), id); err != nil {
				return err
			}
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "delete cluster "+id)
}

// queryTx is the names (one text column) a query in tx returns.
func queryTx(ctx context.Context, tx *sql.Tx, s *sqlStore, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
