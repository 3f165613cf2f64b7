package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
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
	// ErrQuota means an add would take a cluster past its Limits (a
	// *QuotaError says which).
	ErrQuota = errors.New("store: quota exceeded")
)

// Limits bounds what one cluster may hold, checked by the add itself under
// a lock on the cluster, so adds on many nodes at once cannot pass it
// together. Zero is no bound.
type Limits struct {
	TrackingDomains, SendingDomains int
}

// QuotaError is an add refused by Limits: the cluster has Count objects
// of the kind What, the most it may have.
type QuotaError struct {
	What  string // "tracking domains" or "sending domains"
	Count int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("the cluster has %d %s, the most it may have", e.Count, e.What)
}

// Is makes a QuotaError an ErrQuota.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// checkLimits locks the cluster's row and refuses (a *QuotaError) when
// adding tracking tracking domains and sending sending domains would pass
// lim. On SQLite the write transaction already holds the database.
func (s *sqlStore) checkLimits(ctx context.Context, tx *sql.Tx, clusterID string, lim Limits, tracking, sending int) error {
	if lim == (Limits{}) {
		return nil
	}
	if err := s.lockCluster(ctx, tx, clusterID); err != nil {
		return err
	}
	for _, c := range []struct {
		what, table string
		max, adds   int
	}{{"sending domains", "sending_domains", lim.SendingDomains, sending}, {"tracking domains", "tracking_domains", lim.TrackingDomains, tracking}} {
		if c.max <= 0 || c.adds == 0 {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM `+c.table+` WHERE cluster_id = ?`), clusterID).Scan(&n); err != nil {
			return err
		}
		if n+c.adds > c.max {
			return &QuotaError{What: c.what, Count: n}
		}
	}
	return nil
}

// Text makes a string from a request safe to store: valid UTF-8 (one bad
// byte must not fail a PostgreSQL batch of other people's rows; SQLite
// would keep it), at most n bytes, cut on a character boundary.
func Text(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

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
	EventLoads
	EventRetention
	Stats
	Suppressions
	Webhooks
	WebhookQueue
	WebhookEvents
	DeliveryServers
	MailQueue
	Messages
	Blobs
	Secrets
	Sessions
	BlockedDomains
	WebhookStats
	SuppressionList
	Keys
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
