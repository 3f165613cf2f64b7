// Package event is the vocabulary of what waymark records and announces:
// the types of stored events and their classes, the notices about domains
// that webhooks receive, and the reasons an address is suppressed. It holds
// names only, no I/O, so every package speaks of an event the same way.
package event
