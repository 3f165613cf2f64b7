package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
)

// TrackingDomains holds the clusters' tracking domains and the outcome of
// their checks.
type TrackingDomains interface {
	// CreateTrackingDomain stores a new tracking domain. A name already in
	// the cluster, or a target already issued, is ErrDuplicate; one past
	// lim is a *QuotaError.
	CreateTrackingDomain(ctx context.Context, d TrackingDomain, lim Limits) error
	// TrackingDomain returns one tracking domain of a cluster.
	TrackingDomain(ctx context.Context, clusterID, id string) (TrackingDomain, error)
	// TrackingDomainByName returns a cluster's tracking domain by its
	// normalised name.
	TrackingDomainByName(ctx context.Context, clusterID, name string) (TrackingDomain, error)
	// TrackingDomains lists a cluster's tracking domains, oldest first.
	TrackingDomains(ctx context.Context, clusterID string) ([]TrackingDomain, error)
	// SetTrackingDomainDefault sets (on) or clears (off) the cluster's
	// default. Setting needs an active domain (ErrNotActive) and clears the
	// flag on every other domain of the cluster, atomically.
	SetTrackingDomainDefault(ctx context.Context, clusterID, id string, on bool) (TrackingDomain, error)
	// SetHomeURL sets where the domain's front door sends visitors ("":
	// the edge's own page). The zone serial moves: the edges reload.
	SetHomeURL(ctx context.Context, clusterID, id, url string) (TrackingDomain, error)
	// DeleteTrackingDomain removes a tracking domain at once, and queues
	// notice (if not nil) in the same transaction.
	DeleteTrackingDomain(ctx context.Context, clusterID, id string, notice *Notice) error
	// ApplyCheck records a check of a tracking domain. decide is called
	// inside the transaction, with the domain's row locked, and says what
	// follows from the check given the current state, so a scheduled check
	// and a manual one never count the same strike twice. Becoming active
	// makes the domain the default if it was added with the default toggle;
	// becoming pending drops its default flag.
	ApplyCheck(ctx context.Context, clusterID, id string, decide func(TrackingDomain) CheckUpdate) (TrackingDomain, error)
	// DueTrackingDomains lists domains of every cluster whose next check is
	// at or before now, the most overdue first.
	DueTrackingDomains(ctx context.Context, now time.Time, limit int) ([]TrackingDomain, error)
	// SetTLSStatus records the certificate state of a tracking domain name
	// in every cluster that has it.
	SetTLSStatus(ctx context.Context, name, status string) error
}

// TrackingDomain is a customer hostname CNAMEd to its verification target.
type TrackingDomain struct {
	ID        string
	ClusterID string
	// Name is the normalised hostname, e.g. track.example.com.
	Name string
	// Target is the verification target, v-<16 hex>.track.<platform>.
	Target string
	Status domain.Status
	// Default is set on at most one domain per cluster, always an active one.
	Default bool
	// DefaultOnActive asks for Default once the domain becomes active.
	DefaultOnActive bool
	// FailedChecks counts consecutive failed checks (two-strike policy).
	FailedChecks int
	// LastCheck is the most recent verification result, if any.
	LastCheck *Check
	// NextCheck is when the monitor checks it next; zero for on request.
	NextCheck time.Time
	// TLS is the certificate state: "none" until the edge has one.
	TLS string
	// HomeURL is where the domain's front door (/) sends visitors; empty:
	// the edge's own page.
	HomeURL   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Check is the outcome of one verification of a domain's CNAME chain.
type Check struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// Code classifies the result: ok, no_record, proxied, transient, ….
	Code      string   `json:"code"`
	Diagnosis string   `json:"diagnosis"`
	Chain     []string `json:"chain"`
}

// CheckUpdate is what a check changes on a domain.
type CheckUpdate struct {
	Check        Check
	Status       domain.Status
	FailedChecks int
	// NextCheck is when the monitor checks again; zero for only on request.
	NextCheck time.Time
	// Notice, if set, is called in the transaction with the domain as
	// changed; the notice it returns (if any) is queued in it.
	Notice func(after TrackingDomain) (*Notice, error)
}

const trackingCols = `id, cluster_id, name, target, status, is_default, default_on_active,
	failed_checks, last_check, tls_status, created_at, updated_at, next_check_at, home_url`

func scanTrackingDomain(row scanner) (TrackingDomain, error) {
	var d TrackingDomain
	var status string
	var lastCheck sql.NullString
	var created, updated int64
	var next sql.NullInt64
	if err := row.Scan(&d.ID, &d.ClusterID, &d.Name, &d.Target, &status, &d.Default, &d.DefaultOnActive,
		&d.FailedChecks, &lastCheck, &d.TLS, &created, &updated, &next, &d.HomeURL); err != nil {
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

// checkJSON is the stored form of a check result.
func checkJSON(c *Check) (sql.NullString, error) {
	if c == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(c)
	return sql.NullString{String: string(b), Valid: err == nil}, err
}

func (s *sqlStore) CreateTrackingDomain(ctx context.Context, d TrackingDomain, lim Limits) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLimits(ctx, tx, d.ClusterID, lim, 1, 0); err != nil {
			return err
		}
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
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		d.ID, d.ClusterID, d.Name, d.Target, string(d.Status), d.Default, d.DefaultOnActive,
		d.FailedChecks, lastCheck, d.TLS, micros(d.CreatedAt), micros(d.UpdatedAt), nullTime(d.NextCheck), d.HomeURL)
	return err
}

func (s *sqlStore) TrackingDomain(ctx context.Context, clusterID, id string) (TrackingDomain, error) {
	return s.trackingDomain(ctx, s.db, clusterID, id, "")
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

func (s *sqlStore) SetHomeURL(ctx context.Context, clusterID, id, url string) (TrackingDomain, error) {
	return s.updateLocked(ctx, clusterID, id, "set home URL of "+id, func(tx *sql.Tx, d TrackingDomain, now int64) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tracking_domains SET home_url = ?, updated_at = ? WHERE cluster_id = ? AND id = ?`),
			url, now, clusterID, id); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx)
	})
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

// updateLocked runs change on a tracking domain inside a transaction, with
// the cluster and the domain's row locked, and returns the domain after it.
func (s *sqlStore) updateLocked(ctx context.Context, clusterID, id, what string,
	change func(tx *sql.Tx, d TrackingDomain, now int64) error) (TrackingDomain, error) {
	return s.updateLockedThen(ctx, clusterID, id, what, change, nil)
}

// updateLockedThen is updateLocked that also calls then, in the
// transaction, with the domain as changed.
func (s *sqlStore) updateLockedThen(ctx context.Context, clusterID, id, what string,
	change func(tx *sql.Tx, d TrackingDomain, now int64) error, then func(tx *sql.Tx, after TrackingDomain) error) (TrackingDomain, error) {
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
		if out, err = s.trackingDomain(ctx, tx, clusterID, id, ""); err != nil || then == nil {
			return err
		}
		return then(tx, out)
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
	var u CheckUpdate
	return s.updateLockedThen(ctx, clusterID, id, "record check of "+id, func(tx *sql.Tx, d TrackingDomain, now int64) error {
		u = decide(d)
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
	}, func(tx *sql.Tx, after TrackingDomain) error {
		if u.Notice == nil {
			return nil
		}
		n, err := u.Notice(after)
		if err == nil {
			_, err = s.enqueueNotice(ctx, tx, clusterID, n)
		}
		return err
	})
}

func (s *sqlStore) DueTrackingDomains(ctx context.Context, now time.Time, limit int) ([]TrackingDomain, error) {
	return queryAll(ctx, s, "due tracking domains", scanTrackingDomain, `SELECT `+trackingCols+` FROM tracking_domains
		WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, id LIMIT ?`, micros(now), limit)
}

func (s *sqlStore) DeleteTrackingDomain(ctx context.Context, clusterID, id string, notice *Notice) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if user, err := s.trackingDomainUser(ctx, tx, clusterID, id, ""); err != nil || user != nil {
			if user != nil {
				return user
			}
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tracking_domains WHERE cluster_id = ? AND id = ?`), clusterID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		if _, err := s.enqueueNotice(ctx, tx, clusterID, notice); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "delete tracking domain "+id)
}

func (s *sqlStore) SetTLSStatus(ctx context.Context, name, status string) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE tracking_domains SET tls_status = ? WHERE name = ?`), status, name)
	return s.wrap(err, "tls status of "+name)
}
