// Package uribl checks the destinations of a message's links against URI
// blocklists (the operator's --uribl zones, such as dbl.spamhaus.org, and
// the platform's own list of blocked domains), so one sender cannot get a
// shared tracking host listed by redirecting to a listed site
// (docs/CONCEPTS.md#link-safety).
//
// A destination is looked up by its registrable domain (the Public Suffix
// List) as <domain>.<zone> A through the resolver; an answer in 127/8 is
// a listing, with its return code decoded (codes.go). Answers are cached
// for their TTL; lookups are bounded by the caller's deadline, and one not
// answered in time lets the link through and is counted.
package uribl
