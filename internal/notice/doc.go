// Package notice writes the emails that tell a cluster's people
// (notify_email) of a problem with one of its domains: a tracking or
// sending domain that failed a check (a warning: one more and it is
// deactivated), one that was deactivated, a certificate that could not be
// obtained. Each says what was found and the exact fix, the records to
// publish, in plain text and HTML (docs/CONCEPTS.md#notices).
//
// compose.go is pure: a Notice in, a whole RFC 5322 message out. mail.go
// sends them through the relay's durable queue.
package notice
