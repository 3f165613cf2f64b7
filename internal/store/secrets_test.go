package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRewriteSecrets: every token key, webhook secret and blob is offered
// with its kind and id, and what the rewrite changes is stored.
func TestRewriteSecrets(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		if err := s.CreateCluster(ctx, Cluster{ID: "cl_a", Name: "acme", CreatedAt: now}, "h"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddTokenKey(ctx, "cl_a", []byte("key-1"), now); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateWebhook(ctx, Webhook{ID: "wh_1", ClusterID: "cl_a", URL: "https://h.example/", Events: []string{"*"}, Secret: "hook-1", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutBlob(ctx, "certificates/a.key", []byte("blob-1"), now); err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		n, err := s.RewriteSecrets(ctx, []byte("sealed:"), func(kind, id string, v []byte) ([]byte, bool) {
			seen[kind+" "+id] = string(v)
			return []byte("sealed:" + string(v)), true
		})
		want := map[string]string{"token_key cl_a/1": "key-1", "webhook_secret wh_1": "hook-1", "blob certificates/a.key": "blob-1"}
		if err != nil || n != 3 || len(seen) != 3 {
			t.Fatalf("rewrote %d, %v: saw %v", n, err, seen)
		}
		for k, v := range want {
			if seen[k] != v {
				t.Errorf("%s: %q, want %q", k, seen[k], v)
			}
		}
		keys, _ := s.TokenKeys(ctx, "cl_a")
		hooks, _ := s.Webhooks(ctx, "cl_a")
		blob, _, _ := s.Blob(ctx, "certificates/a.key")
		for _, got := range []string{string(keys[0].Secret), hooks[0].Secret, string(blob)} {
			if !strings.HasPrefix(got, "sealed:") {
				t.Errorf("not stored: %q", got)
			}
		}
		if n, err := s.RewriteSecrets(ctx, nil, func(string, string, []byte) ([]byte, bool) { return nil, false }); err != nil || n != 0 {
			t.Fatalf("a rewrite that changes nothing: %d %v", n, err)
		}
		// Values already marked are not offered again.
		offered := 0
		if _, err := s.RewriteSecrets(ctx, []byte("sealed:"), func(string, string, []byte) ([]byte, bool) { offered++; return nil, false }); err != nil || offered != 0 {
			t.Fatalf("sealed values offered %d times: %v", offered, err)
		}
	})
}

// TestSessions: a session is found until it ends or expires; a key lists
// and ends only its own.
func TestSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		for _, ss := range []Session{{ID: "ses_1", KeyHash: "ka", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
			{ID: "ses_2", KeyHash: "ka", CreatedAt: now.Add(time.Second), ExpiresAt: now.Add(time.Hour)},
			{ID: "ses_3", KeyHash: "kb", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}} {
			if err := s.CreateSession(ctx, ss); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Sessions(ctx, "ka", now); err != nil || len(got) != 2 || got[0].ID != "ses_2" {
			t.Fatalf("ka's sessions: %+v %v", got, err)
		}
		if err := s.EndSession(ctx, "kb", "ses_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("kb ends ka's session: %v", err)
		}
		if err := s.EndSession(ctx, "ka", "ses_1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(ctx, "ses_1", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an ended session: %v", err)
		}
		if _, err := s.Session(ctx, "ses_2", now.Add(2*time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an expired session: %v", err)
		}
		if got, err := s.Session(ctx, "ses_3", now); err != nil || got.KeyHash != "kb" {
			t.Fatalf("kb's session: %+v %v", got, err)
		}
	})
}
