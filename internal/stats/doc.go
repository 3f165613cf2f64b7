// Package stats is the arithmetic of the rollups that GET /v1/stats reads
// (docs/CONCEPTS.md#stats): which counters an event moves, under which
// dimensions (the cluster as a whole, the tracking host, the link, the
// message), in which hour; and how hours add up to the intervals asked
// for. It does no I/O: the store keeps the counters, moved in the
// transaction that stores the events.
package stats
