// Package store persists waymark's state: clusters, API keys, settings and
// tracking domains. One interface, Store, has two implementations that share
// their SQL: embedded SQLite (the default, one file in the data directory)
// and PostgreSQL (for several nodes sharing one database). Both pass the same
// conformance suite in this package's tests.
//
// Every object below a cluster is read and written with its cluster id in the
// query, so one tenant's key can never reach another tenant's rows.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
)

var (
	// ErrNotFound means no row matched (in the caller's cluster).
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a unique name or key already exists.
	ErrDuplicate = errors.New("store: already exists")
	// ErrNotActive means the operation needs an active domain.
	ErrNotActive = errors.New("store: domain is not active")
)

// Store is the persistence interface every role uses.
type Store interface {
	// Backend names the implementation: "sqlite" or "postgres".
	Backend() string
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error

	// CreateCluster stores a cluster and its first API key (a hash) in one
	// transaction. A taken name is ErrDuplicate.
	CreateCluster(ctx context.Context, c Cluster, keyHash string) error
	// Cluster returns one cluster by id.
	Cluster(ctx context.Context, id string) (Cluster, error)
	// Clusters lists every cluster, oldest first.
	Clusters(ctx context.Context) ([]Cluster, error)
	// ClusterByKey returns the cluster owning the API key with this hash.
	ClusterByKey(ctx context.Context, keyHash string) (Cluster, error)

	// Setting returns a named setting, or ErrNotFound.
	Setting(ctx context.Context, name string) (string, error)
	// PutSetting stores a setting. With overwrite false an existing value is
	// kept and stored reports false; this is how several nodes agree on one
	// value created at first start.
	PutSetting(ctx context.Context, name, value string, overwrite bool) (stored bool, err error)

	// CreateTrackingDomain stores a new tracking domain. A name already in
	// the cluster, or a target already issued, is ErrDuplicate.
	CreateTrackingDomain(ctx context.Context, d TrackingDomain) error
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
	// SetTrackingDomainStatus moves a domain to a status. Becoming active
	// makes it the default if it was added with the default toggle; becoming
	// pending drops its default flag.
	SetTrackingDomainStatus(ctx context.Context, clusterID, id string, s domain.Status) (TrackingDomain, error)
	// DeleteTrackingDomain removes a tracking domain at once.
	DeleteTrackingDomain(ctx context.Context, clusterID, id string) error

	// ZoneSerial is a counter that moves with every change to the names the
	// platform zone and the edge serve (targets added or deleted, domains
	// becoming active or pending), on any node.
	ZoneSerial(ctx context.Context) (int64, error)
	// VerificationTargets lists every issued verification target.
	VerificationTargets(ctx context.Context) ([]string, error)

	// ApplyCheck records a check of a tracking domain. decide is called
	// inside the transaction, with the domain's row locked, and says what
	// follows from the check given the current state, so a scheduled check
	// and a manual one never count the same strike twice. Status changes
	// follow SetTrackingDomainStatus's rules for the default flag.
	ApplyCheck(ctx context.Context, clusterID, id string, decide func(TrackingDomain) CheckUpdate) (TrackingDomain, error)
	// DueTrackingDomains lists domains of every cluster whose next check is
	// at or before now, the most overdue first.
	DueTrackingDomains(ctx context.Context, now time.Time, limit int) ([]TrackingDomain, error)
	// TryLock takes a named lock shared by every node on the database, if
	// it is free, and holds it until unlock is called or the process dies.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)

	// CreateWebhook stores a webhook of a cluster.
	CreateWebhook(ctx context.Context, w Webhook) error
	// Webhooks lists a cluster's webhooks, oldest first.
	Webhooks(ctx context.Context, clusterID string) ([]Webhook, error)
	// DeleteWebhook removes a webhook and its pending deliveries.
	DeleteWebhook(ctx context.Context, clusterID, id string) error
	// EnqueueEvent queues one delivery of an event to every webhook of the
	// cluster that subscribes to it, and returns how many.
	EnqueueEvent(ctx context.Context, clusterID, event string, payload []byte, now time.Time) (int, error)
	// ClaimDeliveries takes up to limit deliveries that are due, for lease:
	// another node (or a restart) retries them only after the lease.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDelivery records an attempt. With next zero the delivery is
	// over (delivered, or failed for good); otherwise it is retried then.
	FinishDelivery(ctx context.Context, d Delivery, a Attempt, next time.Time) error

	// AddTokenKey stores a new token key for a cluster and returns its id,
	// one more than the highest so far.
	AddTokenKey(ctx context.Context, clusterID string, secret []byte, now time.Time) (uint32, error)
	// TokenKeys lists a cluster's token keys, oldest first.
	TokenKeys(ctx context.Context, clusterID string) ([]TokenKey, error)
	// ActiveHosts maps every active tracking domain to its cluster.
	ActiveHosts(ctx context.Context) (map[string]string, error)

	// InsertEvents stores tracking events in one transaction.
	InsertEvents(ctx context.Context, events []Event) error
	// Events lists a cluster's events, oldest first, after a cursor.
	Events(ctx context.Context, clusterID string, q EventQuery) ([]Event, error)

	// Suppress puts an address on a cluster's suppression list; an address
	// already there keeps its first reason.
	Suppress(ctx context.Context, clusterID, address, reason string, now time.Time) error
	// Suppressed reports whether an address is on the cluster's list.
	Suppressed(ctx context.Context, clusterID, address string) (bool, error)

	// CreateDeliveryServer stores a delivery server; a name taken in the
	// cluster is ErrDuplicate. A new default unsets the previous one.
	CreateDeliveryServer(ctx context.Context, d DeliveryServer) error
	// DeliveryServers lists a cluster's delivery servers by name.
	DeliveryServers(ctx context.Context, clusterID string) ([]DeliveryServer, error)
	// DeleteDeliveryServer removes one; mail already queued keeps its URL.
	DeleteDeliveryServer(ctx context.Context, clusterID, id string) error

	// EnqueueMail stores outgoing messages in one transaction: when it
	// returns nil they are durable. A Mail with Status MailSent is stored
	// as sent already (no data), for the VERP address of mail sent another
	// way.
	EnqueueMail(ctx context.Context, mails []Mail) error
	// ClaimMail takes up to limit queued messages that are due, for lease:
	// another node (or a restart) tries them only after the lease.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Mail, error)
	// FinishMail records an attempt: MailSent and MailFailed end the
	// message (its data is dropped); MailQueued retries it at next. The
	// event, if any, is stored in the same transaction, and only if this
	// call finished the message.
	FinishMail(ctx context.Context, id string, status MailStatus, lastError string, next, now time.Time, ev *Event) error
	// MailByID returns a queued or finished message, without its data.
	MailByID(ctx context.Context, id string) (Mail, error)
	// MailFor returns the latest copy of a message for a recipient,
	// without its data.
	MailFor(ctx context.Context, clusterID, messageID, rcpt string) (Mail, error)
	// TakeForward counts one forward of a message by a recipient, unless
	// they have used max already: then it reports false.
	TakeForward(ctx context.Context, clusterID, messageID, rcpt string, max int) (bool, error)
	// PurgeMail removes finished messages older than before; it returns
	// how many.
	PurgeMail(ctx context.Context, before time.Time) (int, error)

	// ActiveSendingDomainClusters lists the clusters where name is an
	// active sending domain.
	ActiveSendingDomainClusters(ctx context.Context, name string) ([]string, error)

	// SaveMessage keeps a submitted message as it came (a message id is
	// kept once: later saves of it change nothing).
	SaveMessage(ctx context.Context, clusterID, id string, raw []byte, now time.Time) error
	// Message returns a saved message, or ErrNotFound.
	Message(ctx context.Context, clusterID, id string) ([]byte, error)
	// PurgeMessages removes messages saved before a time; it returns how
	// many.
	PurgeMessages(ctx context.Context, before time.Time) (int, error)

	// PutBlob stores a value under a slash-separated key.
	PutBlob(ctx context.Context, key string, value []byte, now time.Time) error
	// Blob returns a value and when it was stored, or ErrNotFound.
	Blob(ctx context.Context, key string) ([]byte, time.Time, error)
	// DeleteBlobs removes key and every key under key + "/".
	DeleteBlobs(ctx context.Context, key string) error
	// BlobKeys lists the keys under prefix + "/", in order.
	BlobKeys(ctx context.Context, prefix string) ([]string, error)
	// CreateSendingDomain stores a sending domain, its DKIM keys and the
	// tracking domain of its click host in one transaction. A name taken in
	// the cluster (sending domain, or click host as a tracking domain) is
	// ErrDuplicate.
	CreateSendingDomain(ctx context.Context, d SendingDomain, keys []DKIMKey, click TrackingDomain) error
	// SendingDomain returns one sending domain of a cluster.
	SendingDomain(ctx context.Context, clusterID, id string) (SendingDomain, error)
	// SendingDomainByName returns a cluster's sending domain by name.
	SendingDomainByName(ctx context.Context, clusterID, name string) (SendingDomain, error)
	// SendingDomains lists a cluster's sending domains, oldest first.
	SendingDomains(ctx context.Context, clusterID string) ([]SendingDomain, error)
	// DeleteSendingDomain removes a sending domain, its keys and its click
	// host's tracking domain.
	DeleteSendingDomain(ctx context.Context, clusterID, id string) error
	// DKIMKeys lists a sending domain's keys (sealed), by algorithm and slot.
	DKIMKeys(ctx context.Context, domainID string) ([]DKIMKey, error)
	// UpdateSendingDomain changes a sending domain under a row lock: change
	// gets the current state and returns the new one and keys to publish
	// (replacing those in the same algorithm and slot).
	UpdateSendingDomain(ctx context.Context, clusterID, id string, change func(SendingDomain) (SendingDomain, []DKIMKey, error)) (SendingDomain, error)
	// PublishedDKIM lists every published DKIM key with its domain's label,
	// for the platform zone.
	PublishedDKIM(ctx context.Context) ([]PublishedKey, error)
	// DueSendingDomains lists sending domains of every cluster whose check
	// or key schedule is due at now.
	DueSendingDomains(ctx context.Context, now time.Time, limit int) ([]SendingDomain, error)
	// SendingLabels lists the labels of every sending domain.
	SendingLabels(ctx context.Context) ([]string, error)

	// SetTLSStatus records the certificate state of a tracking domain name
	// in every cluster that has it.
	SetTLSStatus(ctx context.Context, name, status string) error
}

// TokenKey is a secret under which a cluster's tracking tokens are signed.
type TokenKey struct {
	ID        uint32
	Secret    []byte
	CreatedAt time.Time
}

// Event is one tracking event: an open, a click, an unsubscribe, ….
type Event struct {
	// ID sorts by time: 16 hex digits of Unix microseconds, then 8 random.
	ID        string
	ClusterID string
	Type      string
	At        time.Time
	MessageID string
	Recipient string
	URL       string
	Host      string
	ClientIP  string
	UserAgent string
	// Class is human, bot or proxy; Reason says why.
	Class  string
	Reason string
}

// NewEventID returns an id that sorts by time: 16 hex digits of Unix
// microseconds, then 8 random hex digits.
func NewEventID(at time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%016x%s", at.UnixMicro(), hex.EncodeToString(b))
}

// EventQuery filters Events.
type EventQuery struct {
	Type      string
	MessageID string
	Since     time.Time
	// After is the cursor: the ID of the last event of the previous page.
	After string
	Limit int
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

// MailStatus is where an outgoing message is.
type MailStatus string

const (
	// MailQueued waits for its next attempt.
	MailQueued MailStatus = "queued"
	// MailSent was accepted by the delivery server.
	MailSent MailStatus = "sent"
	// MailFailed was refused for good, or expired.
	MailFailed MailStatus = "failed"
)

// Mail is one outgoing message for one recipient.
type Mail struct {
	// ID is also the VERP part of its envelope sender.
	ID        string
	ClusterID string
	MessageID string
	From      string // the envelope sender (VERP)
	Rcpt      string
	ServerURL string
	Data      []byte
	Status    MailStatus
	Attempts  int
	NextAt    time.Time
	LastError string
	CreatedAt time.Time
	// RawKey names the saved message (SaveMessage) it was made from, if
	// any: forward to a friend sends that.
	RawKey string
}

// Webhook is an HTTPS endpoint of a cluster that receives events.
type Webhook struct {
	ID        string
	ClusterID string
	URL       string
	// Events are the event names it receives; "*" is every event.
	Events    []string
	Secret    string
	CreatedAt time.Time
	// Last is the most recent delivery attempt, if any.
	Last *Attempt
}

// Delivery is one event on its way to one webhook.
type Delivery struct {
	ID        string
	WebhookID string
	URL       string
	Secret    string
	Event     string
	Payload   []byte
	// Attempts made before this one.
	Attempts  int
	CreatedAt time.Time
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	At time.Time `json:"at"`
	// Status is delivered, retrying or failed.
	Status string `json:"status"`
	Code   int    `json:"code"`
	Error  string `json:"error"`
}

// CheckUpdate is what a check changes on a domain.
type CheckUpdate struct {
	Check        Check
	Status       domain.Status
	FailedChecks int
	// NextCheck is when the monitor checks again; zero for only on request.
	NextCheck time.Time
}

// Cluster is one tenant.
type Cluster struct {
	ID        string
	Name      string
	CreatedAt time.Time
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
	TLS       string
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
	Rotation     []byte
	RotationAt   time.Time
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

// PublishedKey is a DKIM key as the zone serves it.
type PublishedKey struct {
	Label     string
	Algorithm string
	Slot      int
	TXT       string
}
