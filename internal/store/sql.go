package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
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
}

// sqlStore implements Store over database/sql for either dialect.
type sqlStore struct {
	db *sql.DB
	d  dialect
	// rebound caches query text rewritten for numbered placeholders.
	rebound sync.Map
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

func (s *sqlStore) Backend() string                { return s.d.name }
func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }
func (s *sqlStore) Close() error                   { return s.db.Close() }

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
	tx, err := s.db.BeginTx(ctx, nil)
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

func (s *sqlStore) CreateCluster(ctx context.Context, c Cluster, keyHash string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO clusters (id, name, created_at) VALUES (?, ?, ?)`),
			c.ID, c.Name, micros(c.CreatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (hash, cluster_id, created_at) VALUES (?, ?, ?)`),
			keyHash, c.ID, micros(c.CreatedAt)); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx) // the edge's list of clusters follows the serial
	})
	return s.wrap(err, "create cluster")
}

const clusterCols = `id, name, created_at`

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

func scanCluster(row scanner) (Cluster, error) {
	var c Cluster
	var created int64
	if err := row.Scan(&c.ID, &c.Name, &created); err != nil {
		return Cluster{}, err
	}
	c.CreatedAt = fromMicros(created)
	return c, nil
}

func (s *sqlStore) Cluster(ctx context.Context, id string) (Cluster, error) {
	c, err := scanCluster(s.db.QueryRowContext(ctx, s.q(`SELECT `+clusterCols+` FROM clusters WHERE id = ?`), id))
	return c, s.wrap(err, "cluster")
}

func (s *sqlStore) Clusters(ctx context.Context) ([]Cluster, error) {
	return queryAll(ctx, s, "clusters", scanCluster, `SELECT `+clusterCols+` FROM clusters ORDER BY created_at, id`)
}

func (s *sqlStore) ClusterByKey(ctx context.Context, keyHash string) (Cluster, error) {
	c, err := scanCluster(s.db.QueryRowContext(ctx, s.q(`SELECT c.id, c.name, c.created_at
		FROM api_keys k JOIN clusters c ON c.id = k.cluster_id WHERE k.hash = ?`), keyHash))
	return c, s.wrap(err, "cluster by key")
}

func (s *sqlStore) Setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&v)
	return v, s.wrap(err, "setting "+name)
}

func (s *sqlStore) PutSetting(ctx context.Context, name, value string, overwrite bool) (bool, error) {
	query := `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`
	if overwrite {
		query = `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`
	}
	res, err := s.db.ExecContext(ctx, s.q(query), name, value)
	if err != nil {
		return false, s.wrap(err, "put setting "+name)
	}
	n, err := res.RowsAffected()
	return n > 0, s.wrap(err, "put setting "+name)
}

const trackingCols = `id, cluster_id, name, target, status, is_default, default_on_active,
	failed_checks, last_check, tls_status, created_at, updated_at, next_check_at`

func scanTrackingDomain(row scanner) (TrackingDomain, error) {
	var d TrackingDomain
	var status string
	var lastCheck sql.NullString
	var created, updated int64
	var next sql.NullInt64
	if err := row.Scan(&d.ID, &d.ClusterID, &d.Name, &d.Target, &status, &d.Default, &d.DefaultOnActive,
		&d.FailedChecks, &lastCheck, &d.TLS, &created, &updated, &next); err != nil {
		return TrackingDomain{}, err
	}
	if next.Valid {
		d.NextCheck = fromMicros(next.Int64)
	}
	d.Status = domain.Status(status)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	if lastCheck.Valid && lastCheck.String != "" {
		d.LastCheck = new(Check)
		if err := json.Unmarshal([]byte(lastCheck.String), d.LastCheck); err != nil {
			return TrackingDomain{}, fmt.Errorf("last_check of %s: %w", d.ID, err)
		}
	}
	return d, nil
}

func (s *sqlStore) CreateTrackingDomain(ctx context.Context, d TrackingDomain) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.insertTrackingDomain(ctx, tx, d); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "create tracking domain "+d.Name)
}

// insertTrackingDomain inserts one row inside a transaction.
func (s *sqlStore) insertTrackingDomain(ctx context.Context, tx *sql.Tx, d TrackingDomain) error {
	lastCheck, err := checkJSON(d.LastCheck)
	if err != nil {
		return err
	}
	if d.TLS == "" {
		d.TLS = "none"
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO tracking_domains (`+trackingCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.ClusterID, d.Name, d.Target, string(d.Status), d.Default, d.DefaultOnActive,
		d.FailedChecks, lastCheck, d.TLS, micros(d.CreatedAt), micros(d.UpdatedAt), nullTime(d.NextCheck))
	return err
}

// checkJSON is the stored form of a check result.
func checkJSON(c *Check) (sql.NullString, error) {
	if c == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(c)
	return sql.NullString{String: string(b), Valid: err == nil}, err
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

// bumpZone moves the zone serial inside a transaction that changes the zone.
func (s *sqlStore) bumpZone(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE zone_serial SET serial = serial + 1 WHERE id = 1`)
	return err
}

func (s *sqlStore) ZoneSerial(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT serial FROM zone_serial WHERE id = 1`).Scan(&v)
	return v, s.wrap(err, "zone serial")
}

func (s *sqlStore) VerificationTargets(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s, "verification targets", func(r scanner) (t string, err error) {
		return t, r.Scan(&t)
	}, `SELECT target FROM tracking_domains`)
}

func (s *sqlStore) TrackingDomain(ctx context.Context, clusterID, id string) (TrackingDomain, error) {
	return s.trackingDomain(ctx, s.db, clusterID, id, "")
}

// queryer is what *sql.DB and *sql.Tx share for reads.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *sqlStore) trackingDomain(ctx context.Context, q queryer, clusterID, id, lock string) (TrackingDomain, error) {
	d, err := scanTrackingDomain(q.QueryRowContext(ctx,
		s.q(`SELECT `+trackingCols+` FROM tracking_domains WHERE cluster_id = ? AND id = ?`)+lock, clusterID, id))
	return d, s.wrap(err, "tracking domain "+id)
}

func (s *sqlStore) TrackingDomainByName(ctx context.Context, clusterID, name string) (TrackingDomain, error) {
	d, err := scanTrackingDomain(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+trackingCols+` FROM tracking_domains WHERE cluster_id = ? AND name = ?`), clusterID, name))
	return d, s.wrap(err, "tracking domain "+name)
}

func (s *sqlStore) TrackingDomains(ctx context.Context, clusterID string) ([]TrackingDomain, error) {
	return queryAll(ctx, s, "tracking domains", scanTrackingDomain,
		`SELECT `+trackingCols+` FROM tracking_domains WHERE cluster_id = ? ORDER BY created_at, id`, clusterID)
}

// lockCluster serialises changes to one cluster's default flag on databases
// with row locks; SQLite's write transaction already holds the database.
func (s *sqlStore) lockCluster(ctx context.Context, tx *sql.Tx, clusterID string) error {
	if s.d.forUpdate == "" {
		return nil
	}
	var id string
	return tx.QueryRowContext(ctx, s.q(`SELECT id FROM clusters WHERE id = ?`)+s.d.forUpdate, clusterID).Scan(&id)
}

// makeDefault clears the cluster's current default and sets id's flag.
func (s *sqlStore) makeDefault(ctx context.Context, tx *sql.Tx, clusterID, id string, now int64) error {
	// An explicit choice also cancels other domains' pending wish to become
	// the default when they verify, so it is not silently undone later.
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET is_default = FALSE, default_on_active = FALSE, updated_at = ?
		WHERE cluster_id = ? AND (is_default OR default_on_active) AND id <> ?`), now, clusterID, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET is_default = TRUE, default_on_active = FALSE, updated_at = ?
		WHERE cluster_id = ? AND id = ?`), now, clusterID, id)
	return err
}

func (s *sqlStore) SetTrackingDomainDefault(ctx context.Context, clusterID, id string, on bool) (TrackingDomain, error) {
	return s.updateLocked(ctx, clusterID, id, "set default of "+id, func(tx *sql.Tx, d TrackingDomain, now int64) error {
		switch {
		case on && d.Status != domain.StatusActive:
			return ErrNotActive
		case on:
			return s.makeDefault(ctx, tx, clusterID, id, now)
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET is_default = FALSE, default_on_active = FALSE,
			updated_at = ? WHERE cluster_id = ? AND id = ?`), now, clusterID, id)
		return err
	})
}

func (s *sqlStore) SetTrackingDomainStatus(ctx context.Context, clusterID, id string, st domain.Status) (TrackingDomain, error) {
	if !st.Valid() {
		return TrackingDomain{}, fmt.Errorf("set status of %s: unknown status %q", id, st)
	}
	return s.updateLocked(ctx, clusterID, id, "set status of "+id, func(tx *sql.Tx, d TrackingDomain, now int64) error {
		return s.setStatus(ctx, tx, d, st, now)
	})
}

// updateLocked runs change on a tracking domain inside a transaction, with
// the cluster and the domain's row locked, and returns the domain after it.
func (s *sqlStore) updateLocked(ctx context.Context, clusterID, id, what string,
	change func(tx *sql.Tx, d TrackingDomain, now int64) error) (TrackingDomain, error) {
	var out TrackingDomain
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, clusterID); err != nil {
			return err
		}
		d, err := s.trackingDomain(ctx, tx, clusterID, id, s.d.forUpdate)
		if err != nil {
			return err
		}
		if err := change(tx, d, micros(timeNow())); err != nil {
			return err
		}
		out, err = s.trackingDomain(ctx, tx, clusterID, id, "")
		return err
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotActive) {
		return TrackingDomain{}, err
	}
	return out, s.wrap(err, what)
}

// setStatus moves d to st: becoming active takes the default flag if asked
// for on add; becoming pending drops it. The zone serial moves, since the
// edge serves only active hosts.
func (s *sqlStore) setStatus(ctx context.Context, tx *sql.Tx, d TrackingDomain, st domain.Status, now int64) error {
	if d.Status != st {
		if err := s.bumpZone(ctx, tx); err != nil {
			return err
		}
	}
	if st == domain.StatusActive {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET status = ?, updated_at = ?
			WHERE cluster_id = ? AND id = ?`), string(st), now, d.ClusterID, d.ID); err != nil {
			return err
		}
		if d.DefaultOnActive {
			return s.makeDefault(ctx, tx, d.ClusterID, d.ID, now)
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET status = ?, is_default = FALSE, updated_at = ?
		WHERE cluster_id = ? AND id = ?`), string(st), now, d.ClusterID, d.ID)
	return err
}

func (s *sqlStore) ApplyCheck(ctx context.Context, clusterID, id string, decide func(TrackingDomain) CheckUpdate) (TrackingDomain, error) {
	return s.updateLocked(ctx, clusterID, id, "record check of "+id, func(tx *sql.Tx, d TrackingDomain, now int64) error {
		u := decide(d)
		if !u.Status.Valid() {
			return fmt.Errorf("unknown status %q", u.Status)
		}
		lastCheck, err := checkJSON(&u.Check)
		if err != nil {
			return err
		}
		if u.Status != d.Status {
			if err := s.setStatus(ctx, tx, d, u.Status, now); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET failed_checks = ?, last_check = ?, next_check_at = ?,
			updated_at = ? WHERE cluster_id = ? AND id = ?`), u.FailedChecks, lastCheck, nullTime(u.NextCheck), now, clusterID, id)
		return err
	})
}

func (s *sqlStore) TryLock(ctx context.Context, name string) (func(), bool, error) {
	return s.d.tryLock(ctx, s.db, name)
}

func (s *sqlStore) DueTrackingDomains(ctx context.Context, now time.Time, limit int) ([]TrackingDomain, error) {
	return queryAll(ctx, s, "due tracking domains", scanTrackingDomain, `SELECT `+trackingCols+` FROM tracking_domains
		WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, id LIMIT ?`, micros(now), limit)
}

func (s *sqlStore) DeleteTrackingDomain(ctx context.Context, clusterID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tracking_domains WHERE cluster_id = ? AND id = ?`), clusterID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "delete tracking domain "+id)
}
