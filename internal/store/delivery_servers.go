package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// DeliveryServers holds the clusters' own delivery servers.
type DeliveryServers interface {
	// CreateDeliveryServer stores a delivery server; a name taken in the
	// cluster is ErrDuplicate. A new default unsets the previous one.
	CreateDeliveryServer(ctx context.Context, d DeliveryServer) error
	// DeliveryServers lists a cluster's delivery servers by name.
	DeliveryServers(ctx context.Context, clusterID string) ([]DeliveryServer, error)
	// DeleteDeliveryServer removes one; mail already queued keeps its URL.
	DeleteDeliveryServer(ctx context.Context, clusterID, id string) error
}

// DeliveryServer is an SMTP server of a cluster that waymark relays to.
type DeliveryServer struct {
	ID        string
	ClusterID string
	Name      string
	// URL is smtp://host:port.
	URL string
	// TrackingDomainID, if set, is the tracking domain of its mail.
	TrackingDomainID string
	Default          bool
	CreatedAt        time.Time
}

func (s *sqlStore) CreateDeliveryServer(ctx context.Context, d DeliveryServer) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Its tracking domain must exist, checked under the row's lock: a
		// delete of the domain at the same moment either waits for this
		// and refuses (it is in use), or has gone and this is ErrNotFound.
		if d.TrackingDomainID != "" {
			var id string
			if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM tracking_domains WHERE cluster_id = ? AND id = ?`)+s.d.forUpdate,
				d.ClusterID, d.TrackingDomainID).Scan(&id); err != nil {
				return err
			}
		}
		if d.Default {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE delivery_servers SET is_default = FALSE WHERE cluster_id = ?`), d.ClusterID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO delivery_servers (id, cluster_id, name, url, tracking_domain_id, is_default, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), d.ID, d.ClusterID, d.Name, d.URL, d.TrackingDomainID, d.Default, micros(d.CreatedAt))
		return err
	})
	return s.wrap(err, "create delivery server "+d.Name)
}

func (s *sqlStore) DeliveryServers(ctx context.Context, clusterID string) ([]DeliveryServer, error) {
	return queryAll(ctx, s, "delivery servers", func(r scanner) (DeliveryServer, error) {
		var d DeliveryServer
		var created int64
		err := r.Scan(&d.ID, &d.ClusterID, &d.Name, &d.URL, &d.TrackingDomainID, &d.Default, &created)
		d.CreatedAt = fromMicros(created)
		return d, err
	}, `SELECT id, cluster_id, name, url, tracking_domain_id, is_default, created_at FROM delivery_servers
		WHERE cluster_id = ? ORDER BY name`, clusterID)
}

func (s *sqlStore) DeleteDeliveryServer(ctx context.Context, clusterID, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM delivery_servers WHERE cluster_id = ? AND id = ?`), clusterID, id)
	if err != nil {
		return s.wrap(err, "delete delivery server")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete delivery server %s: %w", id, ErrNotFound)
	}
	return nil
}
