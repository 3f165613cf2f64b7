// Package webhook delivers events to the HTTPS endpoints clusters register:
// JSON bodies signed with HMAC-SHA256 over a timestamp and the body (the
// scheme Stripe and others use, so receivers know it), queued in the store,
// delivered at least once, and retried with back-off for a day. FanOut
// queues the deliveries of committed tracking and mail events, off the
// path that commits them; Deliverer sends what is due.
//
// The signature header is
//
//	Waymark-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// and a receiver rejects a timestamp too far from its own clock, so a
// captured delivery cannot be replayed later.
package webhook
