// Package retention removes raw events older than --event-retention, in
// bulk and in short steps (store.EventRetention: whole days' partitions on
// PostgreSQL, batched deletes on SQLite), on one node at a time (a named
// lock every node shares), once an hour (docs/OPERATIONS.md#retention).
package retention
