// Package ingest moves the edge's events through the node's journal into
// the store (docs/ARCHITECTURE.md#events).
//
// Recorder is the edge's side: it stamps an event's stable id, encodes it
// as a compact record (codec.go) and appends it to the journal, returning
// once the record is on disk; the click is answered then. Loader is the
// store's side: it reads records from the offset the store keeps for the
// journal, and stores them in large transactions that also move the
// offset (store.EventLoads), so each record is loaded once even across
// crashes; it drains what a killed node left before anything newer. The
// store assigns each event its sequence number (the cursor) as it loads.
package ingest
