package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating if needed) the embedded database waymark.db in
// dir and migrates it. The database runs in WAL mode with full fsync, so a
// committed write survives the process being killed.
func OpenSQLite(ctx context.Context, dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, "waymark.db")
	// The database is the operator's alone: made 0600, and SQLite gives its
	// -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	params := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		params.Add("_pragma", p)
	}
	// Write transactions take the lock at BEGIN, so two writers queue on
	// busy_timeout instead of failing with SQLITE_BUSY at upgrade time.
	params.Set("_txlock", "immediate")
	// The path is escaped as a URI path: SQLite decodes %XX in file: URIs,
	// and a "?" or "#" in a directory name must not start the parameters.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+params.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := newSQLStore(db, dialect{
		name:     "sqlite",
		isUnique: isSQLiteUnique,
		tryLock:  processLocks.tryLock,
	})
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return s, nil
}

func isSQLiteUnique(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// processLocks are the named locks of SQLite stores: one process owns an
// SQLite database, so a lock inside the process is a lock for every node.
var processLocks = &localLocks{held: map[string]bool{}}

type localLocks struct {
	mu   sync.Mutex
	held map[string]bool
}

func (l *localLocks) tryLock(_ context.Context, _ *sql.DB, name string) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held[name] {
		return nil, false, nil
	}
	l.held[name] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			delete(l.held, name)
			l.mu.Unlock()
		})
	}, true, nil
}

// SnapshotSQLite writes a consistent copy of the database in dir to dest
// while the service may be writing to it (SQLite's VACUUM INTO reads one
// snapshot in a read transaction), then checks the copy (integrity_check)
// and returns its schema version. The database is opened read-only and is
// not migrated. dest must not exist.
func SnapshotSQLite(ctx context.Context, dir, dest string) (int, error) {
	path := filepath.Join(dir, "waymark.db")
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("no database to back up: %w", err)
	}
	params := url.Values{"mode": {"ro"}}
	params.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+params.Encode())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		return 0, fmt.Errorf("copy %s: %w", path, err)
	}
	cp, err := sql.Open("sqlite", "file:"+(&url.URL{Path: dest}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer cp.Close()
	var check string
	if err := cp.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		return 0, fmt.Errorf("the copy does not pass integrity_check: %q %v", check, err)
	}
	var version int
	if err := cp.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, fmt.Errorf("the copy has no schema version: %w", err)
	}
	return version, nil
}
