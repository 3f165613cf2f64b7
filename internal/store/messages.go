package store

import (
	"context"
	"time"
)

// Messages keeps submitted messages as they came, for forward to a friend.
type Messages interface {
	// SaveMessage keeps a submitted message as it came (a message id is
	// kept once: later saves of it change nothing).
	SaveMessage(ctx context.Context, clusterID, id string, raw []byte, now time.Time) error
	// Message returns a saved message, or ErrNotFound.
	Message(ctx context.Context, clusterID, id string) ([]byte, error)
	// PurgeMessages removes messages saved before a time; it returns how
	// many.
	PurgeMessages(ctx context.Context, before time.Time) (int, error)
}

func (s *sqlStore) SaveMessage(ctx context.Context, clusterID, id string, raw []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO messages (cluster_id, id, raw, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cluster_id, id) DO NOTHING`), clusterID, id, raw, micros(now))
	return s.wrap(err, "save message "+id)
}

func (s *sqlStore) Message(ctx context.Context, clusterID, id string) ([]byte, error) {
	var raw []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT raw FROM messages WHERE cluster_id = ? AND id = ?`), clusterID, id).Scan(&raw)
	return raw, s.wrap(err, "message "+id)
}

func (s *sqlStore) PurgeMessages(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM messages WHERE created_at < ?`), micros(before))
	if err != nil {
		return 0, s.wrap(err, "purge messages")
	}
	n, err := res.RowsAffected()
	return int(n), err
}
