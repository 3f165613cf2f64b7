// Package groupcommit lets many concurrent writers share one transaction.
//
// A durable write costs one fsync; with SQLite in synchronous=FULL mode a
// transaction per request would bound the edge's clicks and the relay's
// submissions at the disk's fsync rate. A Committer takes each caller's
// items, commits every request that arrived while the previous transaction
// was committing in the next one, and answers each caller only once its
// items are durable (or failed). When a group fails, its requests are
// committed one by one, so one bad request never fails the others.
package groupcommit
