package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// timeNow is the clock for created_at and updated_at; replaced in tests.
var timeNow = time.Now

// dialect is what differs between the SQL databases; everything else is
// shared by sqlStore.
type dialect struct {
	name string
	// numbered placeholders ($1, $2) instead of ?.
	numbered bool
	// forUpdate locks selected rows inside a transaction (PostgreSQL). SQLite
	// write transactions are BEGIN IMMEDIATE and hold the database lock.
	forUpdate string
	// skipLocked: claims of queue rows skip rows another node is claiming
	// (PostgreSQL's FOR UPDATE SKIP LOCKED); SQLite has one writer anyway.
	skipLocked bool
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// lockMigrations serialises schema migrations across nodes.
	lockMigrations string
	// tryLock takes a named lock shared by all nodes of the database.
	tryLock func(ctx context.Context, db *sql.DB, name string) (func(), bool, error)
	// txOptions are every transaction's: the row locks and counts inside
	// them are written for READ COMMITTED, whatever the database's default.
	txOptions *sql.TxOptions
}

// sqlStore implements Store over database/sql for either dialect.
type sqlStore struct {
	db *sql.DB
	d  dialect
	// rebound caches query text rewritten for numbered placeholders.
	rebound sync.Map
	// prepared caches the loader's big statements (stmt): preparing a
	// 500-row INSERT took a sixth of its CPU on SQLite.
	prepared sync.Map
}

func newSQLStore(db *sql.DB, d dialect) *sqlStore {
	return &sqlStore{db: db, d: d}
}

// q returns the query in the dialect's placeholder style.
func (s *sqlStore) q(query string) string {
	if !s.d.numbered {
		return query
	}
	if r, ok := s.rebound.Load(query); ok {
		return r.(string)
	}
	r := rebind(query, true)
	s.rebound.Store(query, r)
	return r
}

// rebind turns ? placeholders into $1, $2, … when numbered is set. Queries
// in this package never contain a literal question mark.
func rebind(query string, numbered bool) string {
	if !numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *sqlStore) Backend() string { return s.d.name }

func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *sqlStore) Close() error {
	s.prepared.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// stmt is query (in the package's placeholder style) prepared once for
// the store and bound to tx; the caller closes what it returns (the store's
// statement stays). For statements run many times with the same text.
func (s *sqlStore) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	query = s.q(query)
	st, ok := s.prepared.Load(query)
	if !ok {
		p, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		if st, ok = s.prepared.LoadOrStore(query, p); ok {
			p.Close() // another goroutine's came first
		}
	}
	return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
}

// wrap maps driver errors onto the package's sentinel errors.
func (s *sqlStore) wrap(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case s.d.isUnique(err):
		return fmt.Errorf("%s: %w", what, ErrDuplicate)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// tx runs fn in a transaction and commits it when fn returns nil.
func (s *sqlStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, s.d.txOptions)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time {
	return time.UnixMicro(v).UTC()
}

// scanner is a row to scan: *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// queryAll runs a query (in ? placeholder style) and scans every row; the
// result is never nil, so an empty list encodes as [].
func queryAll[T any](ctx context.Context, s *sqlStore, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, s.wrap(err, what)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.wrap(err, what)
		}
		out = append(out, v)
	}
	return out, s.wrap(rows.Err(), what)
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

// queryer is what *sql.DB and *sql.Tx share for reads.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// claim leases up to limit due rows of a queue table (its rows have an id
// and a next_attempt_at) in one statement: their next attempt moves to the
// end of the lease, so another node, or this one restarted, takes them
// only after it. On PostgreSQL rows that another node is claiming are
// skipped (SKIP LOCKED); SQLite has one writer at a time anyway. The most
// overdue rows are taken; RETURNING gives them in no order, so callers
// sort them (oldest first).
func claim[T any](ctx context.Context, s *sqlStore, what, table, due, returning string, scan func(scanner) (T, error),
	now time.Time, lease time.Duration, limit int) ([]T, error) {
	lock := ""
	if s.d.skipLocked {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	return queryAll(ctx, s, what, scan, `UPDATE `+table+` SET next_attempt_at = ? WHERE id IN (SELECT id FROM `+table+
		` WHERE `+due+` AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`+lock+`) RETURNING `+returning,
		micros(now.Add(lease)), micros(now), limit)
}
