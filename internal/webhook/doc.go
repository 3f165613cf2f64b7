// Package webhook delivers events to the HTTPS endpoints clusters register:
// JSON arrays of events signed with HMAC-SHA256 over a timestamp and the
// body (the scheme Stripe and others use, so receivers know it), delivered
// at least once, and retried with back-off for a day.
//
// Tracking and mail events come from the events table itself: each webhook
// keeps a cursor (the store's sequence of the last event it was sent), and
// the Deliverer posts the next events of the types it takes, up to its
// max_batch, moving the cursor only once the receiver answered 2xx (or the
// batch was given up). What is stored is delivered, whatever crashes; each
// event keeps its id (Waymark-Event-Id) in every delivery, so a receiver
// drops the duplicates. Domain notices come from a queue in the store.
//
// The signature header is
//
//	Waymark-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// and a receiver rejects a timestamp too far from its own clock, so a
// captured delivery cannot be replayed later.
package webhook
