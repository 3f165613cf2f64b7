// Package dkim signs messages for sending domains (RFC 6376) and holds the
// pure rules of their keys.
//
// Signing is waymark's own: relaxed/relaxed canonicalisation (RFC 6376
// section 3.4) with the body hashed once for all of a message's keys, RSA
// and Ed25519 (RFC 8463) signatures, oversigned headers. go-msgauth was
// the first signer; ours is about four times faster on Ed25519 and is
// fuzzed against it, and verified by python3-dkim and OpenDKIM in tests.
//
// Each algorithm has two selectors (RSA: wm1 and wm2; Ed25519: wme1 and
// wme2), both always published under the platform zone and CNAMEd from the
// customer's domain once and for all. Rotation alternates them: the next
// key is published in the idle selector at least PrePublish before signing
// switches to it (so every resolver has it), and the old key stays
// published until the next pre-publication (so mail signed with it still
// verifies while in flight). The customer's records never change
// (docs/CONCEPTS.md#key-rotation).
package dkim
