// Package domain holds the pure rules for customer hostnames: the tracking
// domains (track.example.com) and sending domains (example.com) that customers
// add to waymark. It does no I/O.
//
// A name goes through three layers of rules.
//
// Hostname syntax, RFC 1035 section 2.3.1 as relaxed by RFC 1123 section 2.1:
// labels of letters, digits and hyphens ("LDH"), not starting or ending with a
// hyphen, 1 to 63 octets each, at most 253 octets in all (the 255-octet wire
// limit of RFC 1035 section 2.3.4 less the length octets). Wildcards,
// underscores, ports, paths and IP literals are refused.
//
// Internationalised names, IDNA2008 (RFC 5890, RFC 5891) with the lookup
// mapping of Unicode UTS #46 (non-transitional, so "ß" stays "ß"): the name is
// mapped (upper case becomes lower case, full-width forms become ASCII),
// validated, and stored as punycode A-labels ("bücher" becomes
// "xn--bcher-kva"). Labels already in punycode are decoded and checked too.
//
// The Public Suffix List (https://publicsuffix.org, the snapshot compiled into
// golang.org/x/net/publicsuffix, both its ICANN and private sections): a name
// must end in a known top-level domain, must not itself be a public suffix
// ("co.uk", "github.io"), and a tracking domain must be a strict subdomain of
// a registrable domain ("track.example.co.uk", not "example.co.uk").
//
// Every refusal is a *NameError with a stable code and a message that names
// the input and says what to do.
package domain
