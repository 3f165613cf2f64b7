// Package secret seals private keys at rest with AES-256-GCM under a key
// kept outside the database (--secret-key-file, made on first start with
// mode 0600), so a copy of the database alone reveals no private key. A
// canary sealed by the first node's key (CheckCanary) makes a node started
// with another key file refuse to start.
package secret
