// Package backup writes a backup of an installation on embedded SQLite:
// one gzip'd tar holding a consistent copy of the database, taken while the
// service runs, and the secret key file without which the database's sealed
// secrets (DKIM and TLS keys, the ACME account, token keys, webhook
// secrets) cannot be opened. Extracted into an empty data directory
// (tar -xzf FILE -C DIR), it is that installation again
// (docs/OPERATIONS.md#backup-and-restore).
package backup
