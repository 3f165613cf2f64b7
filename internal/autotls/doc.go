// Package autotls gets and renews the edge's certificates over ACME with
// caddyserver/certmagic (RFC 8555; HTTP-01 and TLS-ALPN-01, RFC 8737).
// Policy is injected as certmagic's DecisionFunc: a certificate is asked
// for only for a name that is an active tracking domain right now, decided
// from the edge's in-memory index, with no DNS query in the handshake.
// Storage (certmagic.Storage) keeps certificates, the ACME account and
// challenge tokens as blobs in the store, and its locks are the store's
// named locks, so every node shares them and two nodes seeing the first
// handshake together make one order per name.
package autotls
