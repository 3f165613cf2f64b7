// Package store persists waymark's state. Its roles are small interfaces,
// each named for what it holds, and each consumer takes only the roles it
// uses:
//
//   - Clusters and Settings: tenants, their API keys (hashes) and node-wide
//     values such as the admin key's hash;
//   - TrackingDomains and SendingDomains: the customers' domains, their
//     checks, DKIM keys (sealed) and certificate state;
//   - Zone: what the platform zone and the edge serve, and the serial that
//     tells every node when to reload it (Watch);
//   - TokenKeys, Events and Suppressions: tracking-token secrets, tracking
//     and mail events, and the addresses a cluster must not mail;
//   - Webhooks and WebhookQueue: endpoints and their delivery queue;
//   - DeliveryServers, MailQueue and Messages: the relay's smarthosts, its
//     durable per-recipient queue and the submitted messages kept for
//     forward to a friend;
//   - Blobs with a Locker: certmagic's files and named locks shared by
//     every node.
//
// Store embeds them all for wiring. One SQL implementation serves every
// role on embedded SQLite (the default, one file in the data directory) and
// on PostgreSQL (several nodes sharing one database); both pass the same
// conformance suite in this package's tests.
//
// Every object below a cluster is read and written with its cluster id in
// the query, so one tenant's key can never reach another tenant's rows.
package store
