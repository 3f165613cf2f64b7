// Package testenv starts the real peers that integration tests run
// against, on loopback: PostgreSQL (a throwaway cluster from initdb),
// Unbound as the resolver (customer zones as local data, the platform zone
// stubbed to waymark's DNS), Pebble as the ACME CA, Postfix (a private
// instance per test), OpenDKIM, the independent DKIM verifiers
// (python3-dkim's dkimverify, opendkim-testmsg) and headless Chromium for
// the dashboard. Shared peers are started once per test binary in a
// temporary directory and stopped when the binary exits.
//
// A peer that is not installed skips the test on a developer's machine, but
// under CI=true (and under `make test`, which sets WAYMARK_REQUIRE_PEERS=1
// after installing the peers) it is a failure: CI never passes by skipping.
package testenv
