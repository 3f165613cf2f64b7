// Package track holds the tracking rules, which do no I/O: the token codec
// (token.go), the choice of tracking host for a message (host.go), and the
// rewriter of a message's links (rewrite.go): its MIME walk (message.go,
// transfer.go), its HTML parts (html.go) and its text parts (text.go).
// Beside them, Keys (keys.go) caches each cluster's token keys from the
// store for the edge, the relay and the API.
//
// A token is what follows /c/, /o/, /u/ or /f/ on a tracking host. It is
// self-contained, so the edge answers a click with no database read, and
// authenticated with HMAC-SHA256 under a per-cluster key, so nobody can
// forge one or change its destination:
//
//	base64url( version | kind | key id | issued | cluster | message | recipient | url | mac )
//
// version, kind: one byte each; key id, issued (Unix seconds): uvarint; cluster: the 8 bytes of
// cl_<16 hex>; message, recipient, url: uvarint length and bytes (url only
// for clicks); mac: the first 16 bytes of HMAC-SHA256(key, everything
// before it). Keys have ids so a cluster's key can rotate while mail sent
// under the old one keeps working.
package track
