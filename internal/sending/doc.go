// Package sending holds the rules of sending domains: the records a
// customer publishes (all CNAMEs into the platform zone, each with a typed
// kind), and the records waymark's DNS serves at their targets (DKIM keys,
// MX and SPF for the bounce host, DMARC), built as zone data; the making
// and sealing of DKIM keys and the rotation step (keys.go); and the zone
// source the DNS server reloads from (zonesource.go).
package sending
