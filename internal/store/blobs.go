package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

func (s *sqlStore) PutBlob(ctx context.Context, key string, value []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO blobs (key, value, modified) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, modified = excluded.modified`),
		key, base64.StdEncoding.EncodeToString(value), micros(now))
	return s.wrap(err, "put "+key)
}

func (s *sqlStore) Blob(ctx context.Context, key string) ([]byte, time.Time, error) {
	var v string
	var modified int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value, modified FROM blobs WHERE key = ?`), key).Scan(&v, &modified)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, s.wrap(err, "get "+key)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return b, fromMicros(modified), err
}

// likePrefix escapes a prefix for LIKE … ESCAPE '\'.
func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

func (s *sqlStore) DeleteBlobs(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM blobs WHERE key = ? OR key LIKE ? ESCAPE '\'`), key, likePrefix(key+"/"))
	return s.wrap(err, "delete "+key)
}

func (s *sqlStore) BlobKeys(ctx context.Context, prefix string) ([]string, error) {
	like := likePrefix(strings.TrimSuffix(prefix, "/") + "/")
	if prefix == "" {
		like = "%"
	}
	return queryAll(ctx, s, "blob keys", func(r scanner) (k string, err error) {
		return k, r.Scan(&k)
	}, `SELECT key FROM blobs WHERE key LIKE ? ESCAPE '\' ORDER BY key`, like)
}

// Locker takes named locks shared by every node on the database.
type Locker interface {
	// TryLock takes a named lock, if it is free, and holds it until unlock
	// is called or the process dies.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}

// Blobs holds values under slash-separated keys (certmagic's files), with
// the locks that guard them.
type Blobs interface {
	Locker
	// PutBlob stores a value under a slash-separated key.
	PutBlob(ctx context.Context, key string, value []byte, now time.Time) error
	// Blob returns a value and when it was stored, or ErrNotFound.
	Blob(ctx context.Context, key string) ([]byte, time.Time, error)
	// DeleteBlobs removes key and every key under key + "/".
	DeleteBlobs(ctx context.Context, key string) error
	// BlobKeys lists the keys under prefix + "/", in order.
	BlobKeys(ctx context.Context, prefix string) ([]string, error)
}

func (s *sqlStore) TryLock(ctx context.Context, name string) (func(), bool, error) {
	return s.d.tryLock(ctx, s.db, name)
}
