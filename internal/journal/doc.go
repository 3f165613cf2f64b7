// Package journal is a node's local append-only log of records, each
// durable before Append returns: the edge writes a click's event here, and
// answers once the bytes are on disk, instead of waiting for a database
// transaction. A loader reads the records back in order, from an offset it
// keeps, and moves them into the store in large batches
// (docs/ARCHITECTURE.md#events).
//
// A journal is a directory: a file ID naming it (random, made once), a
// LOCK file held with flock(2) so two processes never append to one
// journal, and segment files named by the offset of their first byte
// (%016x.seg). Offsets are byte positions in the journal as a whole, so a
// loader's offset names one record in one journal for ever.
//
// A record is framed as a 4-byte little-endian length, the CRC-32C
// (Castagnoli) of the payload, and the payload. Appends that arrive while
// one write and fdatasync(2) is in flight share the next one (group
// commit), so one flush serves many requests. A crash can leave a torn
// record at the end of the last segment: it was never acknowledged, and
// Open cuts it off.
//
// The hand-written log is small on purpose: the store's databases cannot
// take an fsync per click at the edge's rate, and no library of the field
// offers a plain durable append log without a database around it.
package journal
