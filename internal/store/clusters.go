package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Clusters holds the tenants and their API keys.
type Clusters interface {
	// CreateCluster stores a cluster and its first API key (a hash) in one
	// transaction. A taken name is ErrDuplicate.
	CreateCluster(ctx context.Context, c Cluster, keyHash string) error
	// Cluster returns one cluster by id.
	Cluster(ctx context.Context, id string) (Cluster, error)
	// Clusters lists every cluster, oldest first.
	Clusters(ctx context.Context) ([]Cluster, error)
	// ClusterByKey returns the cluster owning the API key with this hash.
	ClusterByKey(ctx context.Context, keyHash string) (Cluster, error)
	// UpdateCluster changes a cluster's settings under a row lock: change
	// gets the current state and returns the new one (its id, name and
	// creation time are kept).
	UpdateCluster(ctx context.Context, id string, change func(Cluster) (Cluster, error)) (Cluster, error)
	// DeleteCluster removes a cluster and everything of it; ErrNotFound if
	// there is no such cluster.
	DeleteCluster(ctx context.Context, id string) error
}

// Settings holds node-wide values that every node agrees on.
type Settings interface {
	// Setting returns a named setting, or ErrNotFound.
	Setting(ctx context.Context, name string) (string, error)
	// PutSetting stores a setting. With overwrite false an existing value is
	// kept and stored reports false; this is how several nodes agree on one
	// value created at first start.
	PutSetting(ctx context.Context, name, value string, overwrite bool) (stored bool, err error)
}

// Cluster is one tenant.
type Cluster struct {
	ID        string
	Name      string
	CreatedAt time.Time
	// UnsignedMail is what the relay does with mail whose From domain is
	// not one of the cluster's verified sending domains: "refuse" (the
	// default) or "relay" it unsigned (relay.UnsignedMail).
	UnsignedMail string
	// NotifyEmail are the addresses that get the cluster's notices by
	// email (a domain's failed check, its deactivation, a certificate that
	// could not be obtained).
	NotifyEmail []string
	// Tracking is the cluster's tracking defaults; "" is the built-in
	// default (opens on, clicks all).
	Tracking Tracking
}

// Tracking is a tracking default: Opens "on" or "off", Clicks "all",
// "html", "text" or "off"; "" takes the next level's (docs/CONCEPTS.md#tracking-switches).
type Tracking struct {
	Opens, Clicks string
}

const clusterCols = `id, name, created_at, unsigned_mail, notify_email, track_opens, track_clicks`

func scanCluster(row scanner) (Cluster, error) {
	var c Cluster
	var created int64
	var notify string
	if err := row.Scan(&c.ID, &c.Name, &created, &c.UnsignedMail, &notify, &c.Tracking.Opens, &c.Tracking.Clicks); err != nil {
		return Cluster{}, err
	}
	c.CreatedAt = fromMicros(created)
	if notify != "" {
		c.NotifyEmail = strings.Split(notify, ",") // addresses the API checked: no commas in them
	}
	return c, nil
}

// FirstKeyLabel labels the key a cluster is created with.
const FirstKeyLabel = "created with the cluster"

func (s *sqlStore) CreateCluster(ctx context.Context, c Cluster, keyHash string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if c.UnsignedMail == "" {
			c.UnsignedMail = "refuse"
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO clusters (`+clusterCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			c.ID, c.Name, micros(c.CreatedAt), c.UnsignedMail, strings.Join(c.NotifyEmail, ","), c.Tracking.Opens, c.Tracking.Clicks); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?)`),
			KeyID(keyHash), c.ID, FirstKeyLabel, keyHash, micros(c.CreatedAt)); err != nil {
			return err
		}
		return s.bumpZone(ctx, tx) // the edge's list of clusters follows the serial
	})
	return s.wrap(err, "create cluster")
}

func (s *sqlStore) Cluster(ctx context.Context, id string) (Cluster, error) {
	c, err := scanCluster(s.db.QueryRowContext(ctx, s.q(`SELECT `+clusterCols+` FROM clusters WHERE id = ?`), id))
	return c, s.wrap(err, "cluster")
}

func (s *sqlStore) Clusters(ctx context.Context) ([]Cluster, error) {
	return queryAll(ctx, s, "clusters", scanCluster, `SELECT `+clusterCols+` FROM clusters ORDER BY created_at, id`)
}

func (s *sqlStore) ClusterByKey(ctx context.Context, keyHash string) (Cluster, error) {
	c, err := scanCluster(s.db.QueryRowContext(ctx, s.q(`SELECT c.id, c.name, c.created_at, c.unsigned_mail, c.notify_email,
		c.track_opens, c.track_clicks FROM api_keys k JOIN clusters c ON c.id = k.cluster_id WHERE k.hash = ?`), keyHash))
	return c, s.wrap(err, "cluster by key")
}

func (s *sqlStore) UpdateCluster(ctx context.Context, id string, change func(Cluster) (Cluster, error)) (Cluster, error) {
	var out Cluster
	err := s.tx(ctx, func(tx *sql.Tx) error {
		c, err := scanCluster(tx.QueryRowContext(ctx, s.q(`SELECT `+clusterCols+` FROM clusters WHERE id = ?`)+s.d.forUpdate, id))
		if err != nil {
			return err
		}
		next, err := change(c)
		if err != nil {
			return err
		}
		next.ID, next.Name, next.CreatedAt = c.ID, c.Name, c.CreatedAt
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE clusters SET unsigned_mail = ?, notify_email = ?, track_opens = ?, track_clicks = ? WHERE id = ?`),
			next.UnsignedMail, strings.Join(next.NotifyEmail, ","), next.Tracking.Opens, next.Tracking.Clicks, id); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, s.wrap(err, "update cluster "+id)
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

// PlatformDomainSetting holds the platform domain the database serves,
// stored on first start.
const PlatformDomainSetting = "platform_domain"

// Pin stores value under name unless a value is there already, and returns
// the value that holds: the first node's, which every later one must match.
func Pin(ctx context.Context, s Settings, name, value string) (string, error) {
	stored, err := s.PutSetting(ctx, name, value, false)
	if err != nil || stored {
		return value, err
	}
	return s.Setting(ctx, name)
}
