package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"time"
)

// TokenKeys holds the per-cluster secrets that sign tracking tokens.
type TokenKeys interface {
	// AddTokenKey stores a new token key for a cluster and returns its id,
	// one more than the highest so far.
	AddTokenKey(ctx context.Context, clusterID string, secret []byte, now time.Time) (uint32, error)
	// TokenKeys lists a cluster's token keys, oldest first.
	TokenKeys(ctx context.Context, clusterID string) ([]TokenKey, error)
}

// TokenKey is a secret under which a cluster's tracking tokens are signed.
type TokenKey struct {
	ID        uint32
	Secret    []byte
	CreatedAt time.Time
}

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
