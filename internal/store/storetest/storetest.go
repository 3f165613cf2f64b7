// Package storetest holds fixtures for tests that use a real store.
package storetest

import (
	"context"
	"testing"

	"github.com/waymark-mail/waymark/internal/domain"
	"github.com/waymark-mail/waymark/internal/store"
)

// Activate makes a tracking domain active the way a passing check does
// (through ApplyCheck, so the default-on-activation rule applies), or fails
// the test.
func Activate(t testing.TB, st store.TrackingDomains, clusterID, id string) store.TrackingDomain {
	t.Helper()
	d, err := st.ApplyCheck(context.Background(), clusterID, id, func(d store.TrackingDomain) store.CheckUpdate {
		return store.CheckUpdate{Check: store.Check{At: d.UpdatedAt, OK: true, Code: "ok"},
			Status: domain.StatusActive, NextCheck: d.NextCheck}
	})
	if err != nil {
		t.Fatalf("activate %s: %v", id, err)
	}
	return d
}

// SQLite opens a new store in a temporary directory, closed when the test
// ends, or fails the test.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
