// Package dnsserver is waymark's authoritative DNS server for the platform
// zone (--platform-domain). It answers from an immutable in-memory Zone that
// is rebuilt from the store whenever the store's zone serial moves, and
// swapped in atomically, so a deleted verification target is NXDOMAIN
// within a second on every node.
//
// The zone is data: names with record sets. Verification targets, the
// platform's own hosts and (with sending domains) DKIM, SPF, DMARC and MX
// records are all entries of the same map, answered by the same code.
// RFC 1034 section 4.3.2 gives the lookup algorithm; RFC 2308 the negative
// answers (the SOA in the authority section); RFC 6891 EDNS(0).
package dnsserver
