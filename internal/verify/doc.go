// Package verify checks a customer's DNS: it walks the CNAME chain from a
// customer name, one query per hop against the configured recursive
// resolver, and says whether the chain ends at the expected target, or
// precisely why not. Tracking domains are checked against their
// verification target; the monitor checks a sending domain's DKIM,
// bounce, DMARC and click-host CNAMEs the same way, each against its own
// target in the platform zone.
//
// A CNAME query is answered by a resolver with the CNAME record only (RFC
// 1034 section 3.6.2: no chasing for QTYPE=CNAME), so each hop is seen, and
// a chain longer than MaxHops or a loop is caught by us, not hidden by the
// resolver's own chasing.
package verify
