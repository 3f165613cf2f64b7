// Package bounce reads what comes back to the bounce hosts: delivery
// status notifications (RFC 3464) and abuse reports (ARF, RFC 5965), with
// a pure parser (fuzzed), and runs the inbound SMTP service that takes
// them (--bounce-smtp) for the VERP addresses of relayed mail only. A hard
// bounce or a complaint becomes an event and puts the recipient on the
// cluster's suppression list.
package bounce
