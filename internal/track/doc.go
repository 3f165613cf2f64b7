// Package track holds the tracking rules, which do no I/O: the token codec
// (token.go), the choice of tracking host for a message (host.go), and the
// rewriter of a message's links (rewrite.go): its MIME walk (message.go,
// transfer.go), its HTML parts (html.go) and its text parts (text.go).
// Beside them, Keys (keys.go) caches each cluster's token keys from the
// store for the edge, the relay and the API.
//
// A token is what follows /c/, /o/, /u/ or /f/ on a tracking host. It is
// self-contained, so the edge answers a click with no database read;
// authenticated, so nobody can forge one or change its destination; and
// encrypted, so it shows nobody the recipient, the message or the URL
// (docs/CONCEPTS.md#tracking-links):
//
//	base64url( 2 | cluster | key id | siv | AES-256-CTR(siv, kind | issued | message | recipient | url) )
//
// cluster: the 8 bytes of cl_<16 hex>; key id, issued (Unix seconds):
// uvarint; message, recipient, url: uvarint length and bytes (url only for
// clicks); siv: the first 16 bytes of HMAC-SHA256 over everything else in
// the clear, the fields included (the SIV construction of RFC 5297). Both
// keys come from the cluster's key by HKDF-SHA256 (Key). Keys have ids so
// a cluster's key can rotate while mail sent under the old one keeps
// working; version-1 tokens (fields in the clear, an HMAC after them)
// still decode.
package track
