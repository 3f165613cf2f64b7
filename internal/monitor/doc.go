// Package monitor checks tracking and sending domains, on request and on a
// schedule, and runs the DKIM key schedule of sending domains.
//
// Its rules are pure functions (policy.go): the two-strike policy, where
// an active domain whose check fails once gets a warning and stays active
// and a second consecutive failure sends it back to pending, a pass resets
// the count and a transient resolver failure changes nothing and is
// retried soon; the back-off schedule of pending domains, checked for 72
// hours after they were added and then only on request; and which notice
// each change sends. A sending domain's check verifies each of its
// records (DKIM selectors, bounce host, DMARC, click host) through package
// verify; its DKIM records decide its status.
//
// The Monitor runs them against the store, the verifier and a clock that
// tests replace, so days of checks run in milliseconds; scheduled work runs
// on one node at a time (the store's lock).
package monitor
