package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
)

// SendingDomains holds the clusters' sending domains and their DKIM keys.
type SendingDomains interface {
	// CreateSendingDomain stores a sending domain, its DKIM keys and the
	// tracking domain of its click host in one transaction. A name taken in
	// the cluster (sending domain, or click host as a tracking domain) is
	// ErrDuplicate; past lim (the click host counts as a tracking domain)
	// is a *QuotaError.
	CreateSendingDomain(ctx context.Context, d SendingDomain, keys []DKIMKey, click TrackingDomain, lim Limits) error
	// SendingDomain returns one sending domain of a cluster.
	SendingDomain(ctx context.Context, clusterID, id string) (SendingDomain, error)
	// SendingDomainByName returns a cluster's sending domain by name.
	SendingDomainByName(ctx context.Context, clusterID, name string) (SendingDomain, error)
	// SendingDomains lists a cluster's sending domains, oldest first.
	SendingDomains(ctx context.Context, clusterID string) ([]SendingDomain, error)
	// ActiveSendingDomainByName finds an active sending domain of that name
	// in any cluster (the oldest): the platform's own, which signs its
	// notices. Only the domain's owner can have verified it.
	ActiveSendingDomainByName(ctx context.Context, name string) (SendingDomain, error)
	// SendingDomainClusters lists the clusters that have a sending domain
	// of that name, or whose sending domain has it as its bounce host.
	SendingDomainClusters(ctx context.Context, name string) ([]string, error)
	// DeleteSendingDomain removes a sending domain, its keys and its click
	// host's tracking domain.
	DeleteSendingDomain(ctx context.Context, clusterID, id string) error
	// DKIMKeys lists a sending domain's keys (sealed), by algorithm and slot.
	DKIMKeys(ctx context.Context, domainID string) ([]DKIMKey, error)
	// UpdateSendingDomain changes a sending domain under a row lock: change
	// gets the current state and returns the new one and keys to publish
	// (replacing those in the same algorithm and slot). New keys or a new
	// DMARC policy move the zone serial. notice, if set, is called in the
	// transaction with the new state; the notice it returns (if any) is
	// queued in it.
	UpdateSendingDomain(ctx context.Context, clusterID, id string, change func(SendingDomain) (SendingDomain, []DKIMKey, error),
		notice func(after SendingDomain) (*Notice, error)) (SendingDomain, error)
	// DueSendingDomains lists sending domains of every cluster whose check
	// or key schedule is due at now.
	DueSendingDomains(ctx context.Context, now time.Time, limit int) ([]SendingDomain, error)
}

// SendingDomain is a customer domain whose DKIM keys, SPF, DMARC, bounce
// and click hosts waymark hosts.
type SendingDomain struct {
	ID        string
	ClusterID string
	Name      string
	// Label is the domain's short name under the platform zone (<sid>).
	Label string
	// ClickHost and BounceHost are full host names under Name.
	ClickHost, BounceHost string
	// ClickDomainID is the tracking domain made for the click host.
	ClickDomainID string
	Algorithms    []string
	Status        domain.Status
	// Records holds the state of each customer record, by its name.
	Records map[string]RecordState
	// Rotation is the key schedule's state per algorithm, as JSON (its
	// rules belong to package dkim); RotationAt is when it acts next.
	Rotation   []byte
	RotationAt time.Time
	// Tracking is the domain's own tracking defaults; "" takes the
	// cluster's.
	Tracking Tracking
	// DMARC is the domain's own DMARC policy as package sending stores it
	// (JSON); "" is the default.
	DMARC        string
	FailedChecks int
	LastCheck    *Check
	NextCheck    time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// RecordState is the last check of one customer record.
type RecordState struct {
	Status    domain.Status `json:"status"`
	Code      string        `json:"code,omitempty"`
	Diagnosis string        `json:"diagnosis,omitempty"`
	At        time.Time     `json:"at,omitzero"`
}

// DKIMKey is one key of a sending domain, its private part sealed.
type DKIMKey struct {
	DomainID    string
	Algorithm   string
	Slot        int
	PrivateKey  string // sealed (package secret)
	TXT         string
	PublishedAt time.Time
}

const sendingCols = `id, cluster_id, name, label, click_host, bounce_host, click_domain_id, algorithms, status,
	records, rotation, failed_checks, last_check, next_check_at, created_at, updated_at, rotation_at, track_opens, track_clicks, dmarc`

func scanSendingDomain(r scanner) (SendingDomain, error) {
	var d SendingDomain
	var algs, status, records, rotation string
	var lastCheck sql.NullString
	var next, rotAt sql.NullInt64
	var created, updated int64
	if err := r.Scan(&d.ID, &d.ClusterID, &d.Name, &d.Label, &d.ClickHost, &d.BounceHost, &d.ClickDomainID, &algs, &status,
		&records, &rotation, &d.FailedChecks, &lastCheck, &next, &created, &updated, &rotAt, &d.Tracking.Opens, &d.Tracking.Clicks, &d.DMARC); err != nil {
		return d, err
	}
	if rotAt.Valid {
		d.RotationAt = fromMicros(rotAt.Int64)
	}
	d.Status, d.Rotation = domain.Status(status), []byte(rotation)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	if next.Valid {
		d.NextCheck = fromMicros(next.Int64)
	}
	if err := json.Unmarshal([]byte(algs), &d.Algorithms); err != nil {
		return d, fmt.Errorf("algorithms of %s: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(records), &d.Records); err != nil {
		return d, fmt.Errorf("records of %s: %w", d.ID, err)
	}
	if lastCheck.Valid && lastCheck.String != "" {
		d.LastCheck = new(Check)
		if err := json.Unmarshal([]byte(lastCheck.String), d.LastCheck); err != nil {
			return d, err
		}
	}
	return d, nil
}

// sendingArgs are d's values in sendingCols order.
func sendingArgs(d SendingDomain) ([]any, error) {
	algs, err := json.Marshal(d.Algorithms)
	if err != nil {
		return nil, err
	}
	if d.Records == nil {
		d.Records = map[string]RecordState{}
	}
	records, err := json.Marshal(d.Records)
	if err != nil {
		return nil, err
	}
	lastCheck, err := checkJSON(d.LastCheck)
	if err != nil {
		return nil, err
	}
	rotation := string(d.Rotation)
	if rotation == "" {
		rotation = "{}"
	}
	return []any{d.ID, d.ClusterID, d.Name, d.Label, d.ClickHost, d.BounceHost, d.ClickDomainID, string(algs), string(d.Status),
		string(records), rotation, d.FailedChecks, lastCheck, nullTime(d.NextCheck), micros(d.CreatedAt), micros(d.UpdatedAt),
		nullTime(d.RotationAt), d.Tracking.Opens, d.Tracking.Clicks, d.DMARC}, nil
}

func (s *sqlStore) putKeys(ctx context.Context, tx *sql.Tx, keys []DKIMKey) error {
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO dkim_keys (domain_id, algorithm, slot, private_key, txt, published_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (domain_id, algorithm, slot) DO UPDATE SET
			private_key = excluded.private_key, txt = excluded.txt, published_at = excluded.published_at`),
			k.DomainID, k.Algorithm, k.Slot, k.PrivateKey, k.TXT, micros(k.PublishedAt)); err != nil {
			return err
		}
	}
	return nil
}

func (s *sqlStore) CreateSendingDomain(ctx context.Context, d SendingDomain, keys []DKIMKey, click TrackingDomain, lim Limits) error {
	args, err := sendingArgs(d)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkLimits(ctx, tx, d.ClusterID, lim, 1, 1); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sending_domains (`+sendingCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), args...); err != nil {
			return err
		}
		if err := s.putKeys(ctx, tx, keys); err != nil {
			return err
		}
		if err := s.insertTrackingDomain(ctx, tx, click); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "create sending domain "+d.Name)
}

func (s *sqlStore) SendingDomain(ctx context.Context, clusterID, id string) (SendingDomain, error) {
	d, err := scanSendingDomain(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+sendingCols+` FROM sending_domains WHERE cluster_id = ? AND id = ?`), clusterID, id))
	return d, s.wrap(err, "sending domain "+id)
}

func (s *sqlStore) SendingDomainByName(ctx context.Context, clusterID, name string) (SendingDomain, error) {
	d, err := scanSendingDomain(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+sendingCols+` FROM sending_domains WHERE cluster_id = ? AND name = ?`), clusterID, name))
	return d, s.wrap(err, "sending domain "+name)
}

func (s *sqlStore) ActiveSendingDomainByName(ctx context.Context, name string) (SendingDomain, error) {
	d, err := scanSendingDomain(s.db.QueryRowContext(ctx,
		s.q(`SELECT `+sendingCols+` FROM sending_domains WHERE name = ? AND status = 'active' ORDER BY created_at, id LIMIT 1`), name))
	return d, s.wrap(err, "active sending domain "+name)
}

func (s *sqlStore) SendingDomainClusters(ctx context.Context, name string) ([]string, error) {
	return queryAll(ctx, s, "clusters of "+name, func(r scanner) (c string, err error) {
		return c, r.Scan(&c)
	}, `SELECT DISTINCT cluster_id FROM sending_domains WHERE name = ? OR bounce_host = ?`, name, name)
}

func (s *sqlStore) SendingDomains(ctx context.Context, clusterID string) ([]SendingDomain, error) {
	return queryAll(ctx, s, "sending domains", scanSendingDomain,
		`SELECT `+sendingCols+` FROM sending_domains WHERE cluster_id = ? ORDER BY created_at, id`, clusterID)
}

func (s *sqlStore) DeleteSendingDomain(ctx context.Context, clusterID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var click string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT click_domain_id FROM sending_domains WHERE cluster_id = ? AND id = ?`),
			clusterID, id).Scan(&click); err != nil {
			return err
		}
		// Its click host goes with it, unless something else uses that.
		if user, err := s.trackingDomainUser(ctx, tx, clusterID, click, id); err != nil || user != nil {
			if user != nil {
				return user
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM dkim_keys WHERE domain_id = ?`), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sending_domains WHERE cluster_id = ? AND id = ?`), clusterID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM tracking_domains WHERE cluster_id = ? AND id = ?`), clusterID, click); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx)
	})
	return s.wrap(err, "delete sending domain "+id)
}

func (s *sqlStore) DKIMKeys(ctx context.Context, domainID string) ([]DKIMKey, error) {
	return queryAll(ctx, s, "dkim keys", func(r scanner) (DKIMKey, error) {
		var k DKIMKey
		var published int64
		err := r.Scan(&k.DomainID, &k.Algorithm, &k.Slot, &k.PrivateKey, &k.TXT, &published)
		k.PublishedAt = fromMicros(published)
		return k, err
	}, `SELECT domain_id, algorithm, slot, private_key, txt, published_at FROM dkim_keys WHERE domain_id = ? ORDER BY algorithm, slot`, domainID)
}

func (s *sqlStore) UpdateSendingDomain(ctx context.Context, clusterID, id string,
	change func(SendingDomain) (SendingDomain, []DKIMKey, error), notice func(after SendingDomain) (*Notice, error)) (SendingDomain, error) {
	var out SendingDomain
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockCluster(ctx, tx, clusterID); err != nil {
			return err
		}
		cur, err := scanSendingDomain(tx.QueryRowContext(ctx,
			s.q(`SELECT `+sendingCols+` FROM sending_domains WHERE cluster_id = ? AND id = ?`)+s.d.forUpdate, clusterID, id))
		if err != nil {
			return err
		}
		next, keys, err := change(cur)
		if err != nil {
			return err
		}
		next.ID, next.ClusterID, next.UpdatedAt = cur.ID, cur.ClusterID, timeNow().UTC()
		args, err := sendingArgs(next)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE sending_domains SET name = ?, label = ?, click_host = ?, bounce_host = ?,
			click_domain_id = ?, algorithms = ?, status = ?, records = ?, rotation = ?, failed_checks = ?, last_check = ?,
			next_check_at = ?, created_at = ?, updated_at = ?, rotation_at = ?, track_opens = ?, track_clicks = ?, dmarc = ? WHERE cluster_id = ? AND id = ?`),
			append(args[2:], clusterID, id)...); err != nil {
			return err
		}
		if len(keys) > 0 {
			if err := s.putKeys(ctx, tx, keys); err != nil {
				return err
			}
		}
		if len(keys) > 0 || next.DMARC != cur.DMARC { // what the zone serves changed
			if err := s.bumpZone(ctx, tx); err != nil {
				return err
			}
		}
		out = next
		if notice == nil {
			return nil
		}
		n, err := notice(next)
		if err == nil {
			_, err = s.enqueueNotice(ctx, tx, clusterID, n)
		}
		return err
	})
	if err != nil {
		return SendingDomain{}, s.wrap(err, "update sending domain "+id)
	}
	return out, nil
}

func (s *sqlStore) DueSendingDomains(ctx context.Context, now time.Time, limit int) ([]SendingDomain, error) {
	return queryAll(ctx, s, "due sending domains", scanSendingDomain, `SELECT `+sendingCols+` FROM sending_domains
		WHERE (next_check_at IS NOT NULL AND next_check_at <= ?) OR (rotation_at IS NOT NULL AND rotation_at <= ?)
		ORDER BY id LIMIT ?`, micros(now), micros(now), limit)
}
