package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

var (
	// ErrNotFound means no row matched (in the caller's cluster).
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a unique name or key already exists.
	ErrDuplicate = errors.New("store: already exists")
	// ErrNotActive means the operation needs an active domain.
	ErrNotActive = errors.New("store: domain is not active")
	// ErrInUse means another object uses the one to delete (an *InUseError
	// says which).
	ErrInUse = errors.New("store: in use")
)

// Store is every role at once, for wiring: one SQL implementation serves
// them all. Consumers take the roles they use, not Store.
type Store interface {
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error

	Clusters
	Settings
	TrackingDomains
	SendingDomains
	Zone
	TokenKeys
	Events
	Suppressions
	Webhooks
	WebhookQueue
	DeliveryServers
	MailQueue
	Messages
	Blobs
	Secrets
	Sessions
}

// InUseError is a delete refused because another object uses this one:
// Name is the Role of the user's Kind UserName, e.g. clicks.example.com is
// the click host of sending domain example.com.
type InUseError struct {
	Name, Role, Kind, UserName string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s is the %s of %s %s", e.Name, e.Role, e.Kind, e.UserName)
}

// Is makes an InUseError an ErrInUse.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// trackingDomainUser finds an object that uses a tracking domain (the
// sending domain it is the click host of, a delivery server it is the
// tracking domain of), except the sending domain exceptSending; nil if none.
func (s *sqlStore) trackingDomainUser(ctx context.Context, tx *sql.Tx, clusterID, id, exceptSending string) (*InUseError, error) {
	// The domain's row is locked first, as a new user locks it to check it
	// exists (CreateDeliveryServer): one of the two waits for the other.
	var locked string
	if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM tracking_domains WHERE cluster_id = ? AND id = ?`)+s.d.forUpdate,
		clusterID, id).Scan(&locked); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	var name, user string
	err := tx.QueryRowContext(ctx, s.q(`SELECT t.name, d.name FROM sending_domains d JOIN tracking_domains t ON t.id = d.click_domain_id
		WHERE d.cluster_id = ? AND d.click_domain_id = ? AND d.id <> ?`), clusterID, id, exceptSending).Scan(&name, &user)
	if err == nil {
		return &InUseError{Name: name, Role: "click host", Kind: "sending domain", UserName: user}, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	err = tx.QueryRowContext(ctx, s.q(`SELECT t.name, ds.name FROM delivery_servers ds JOIN tracking_domains t ON t.id = ds.tracking_domain_id
		WHERE ds.cluster_id = ? AND ds.tracking_domain_id = ? ORDER BY ds.name LIMIT 1`), clusterID, id).Scan(&name, &user)
	if err == nil {
		return &InUseError{Name: name, Role: "tracking domain", Kind: "delivery server", UserName: user}, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return nil, nil
}
