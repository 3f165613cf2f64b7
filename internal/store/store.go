package store

import (
	"context"
	"errors"
)

var (
	// ErrNotFound means no row matched (in the caller's cluster).
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a unique name or key already exists.
	ErrDuplicate = errors.New("store: already exists")
	// ErrNotActive means the operation needs an active domain.
	ErrNotActive = errors.New("store: domain is not active")
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
}
