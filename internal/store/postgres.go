package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// migrationLockID is the advisory lock key held while migrating ("wmmigr").
const migrationLockID = 0x776d6d69677200

// OpenPostgres connects to PostgreSQL at url (postgres://…) and migrates the
// schema. Many waymark nodes may share one database.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s := newSQLStore(db, dialect{
		name:     "postgres",
		numbered: true,
		// NO KEY: the lock must not block inserts that reference the row.
		forUpdate:      " FOR NO KEY UPDATE",
		skipLocked:     true,
		isUnique:       isPostgresUnique,
		lockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockID),
		tryLock:        pgTryLock,
		// An operator's default_transaction_isolation of repeatable read
		// or serializable would turn waits on row locks into errors.
		txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	})
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

func isPostgresUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// pgTryLock takes a session advisory lock on a connection of its own, held
// until unlock or until the connection (or the process) dies, so a node
// that crashes never keeps the lock.
func pgTryLock(ctx context.Context, db *sql.DB, name string) (func(), bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, name).Scan(&ok); err != nil || !ok {
		conn.Close()
		return nil, false, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if _, err := conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext($1))`, name); err != nil {
				// The session may still hold the lock: do not return it to
				// the pool, end it (which releases every lock it holds).
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
			conn.Close()
		})
	}, true, nil
}
