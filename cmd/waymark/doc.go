// Command waymark runs the waymark service (waymark serve) and is its
// command-line client (waymark cluster …, waymark tracking-domain …). It
// wires: serve reads the flags, opens the store and starts each role the
// node runs (roles.go); everything the roles do lives in internal/.
package main
