package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Sessions holds the dashboard's signed-in sessions, so that signing out
// ends one on every node and a key's sessions can be listed and ended.
type Sessions interface {
	// CreateSession stores a new session of a key (by its hash).
	CreateSession(ctx context.Context, s Session) error
	// Session returns a session that has not ended or expired at now, or
	// ErrNotFound.
	Session(ctx context.Context, id string, now time.Time) (Session, error)
	// Sessions lists a key's sessions that have not ended or expired at
	// now, newest first.
	Sessions(ctx context.Context, keyHash string, now time.Time) ([]Session, error)
	// EndSession ends one of a key's sessions at once; another key's
	// session is ErrNotFound.
	EndSession(ctx context.Context, keyHash, id string) error
}

// Session is one sign-in to the dashboard.
type Session struct {
	ID        string
	KeyHash   string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UserAgent and Remote say where it was made, for a person to tell
	// sessions apart.
	UserAgent, Remote string
}

const sessionCols = `id, key_hash, created_at, expires_at, user_agent, remote`

func scanSession(r scanner) (Session, error) {
	var s Session
	var created, expires int64
	err := r.Scan(&s.ID, &s.KeyHash, &created, &expires, &s.UserAgent, &s.Remote)
	s.CreatedAt, s.ExpiresAt = fromMicros(created), fromMicros(expires)
	return s, err
}

func (s *sqlStore) CreateSession(ctx context.Context, ss Session) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?)`),
		ss.ID, ss.KeyHash, micros(ss.CreatedAt), micros(ss.ExpiresAt), ss.UserAgent, ss.Remote)
	return s.wrap(err, "create session")
}

func (s *sqlStore) Session(ctx context.Context, id string, now time.Time) (Session, error) {
	ss, err := scanSession(s.db.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM sessions WHERE id = ? AND expires_at > ?`), id, micros(now)))
	return ss, s.wrap(err, "session")
}

func (s *sqlStore) Sessions(ctx context.Context, keyHash string, now time.Time) ([]Session, error) {
	return queryAll(ctx, s, "sessions", scanSession, `SELECT `+sessionCols+` FROM sessions WHERE key_hash = ? AND expires_at > ?
		ORDER BY created_at DESC, id`, keyHash, micros(now))
}

func (s *sqlStore) EndSession(ctx context.Context, keyHash, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE key_hash = ? AND id = ?`), keyHash, id)
		if err != nil {
			return err
		}
		// Expired sessions go with any end (they are never read again).
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE expires_at < ?`), micros(timeNow())); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
	return s.wrap(err, fmt.Sprintf("end session %s", id))
}
