package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/domain"
)

// TestDeleteInUse: a tracking domain that a sending domain (its click host)
// or a delivery server uses is not deleted, with an *InUseError naming the
// user; a sending domain whose click host a delivery server uses is not
// deleted either; once the user is gone, the deletes go through.
func TestDeleteInUse(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		if err := s.CreateCluster(ctx, Cluster{ID: "cl_a", Name: "acme", CreatedAt: now}, "h"); err != nil {
			t.Fatal(err)
		}
		click := newDomain("cl_a", "td_click", "clicks.example.com")
		sd := SendingDomain{ID: "sd_1", ClusterID: "cl_a", Name: "example.com", Label: "l1", ClickHost: click.Name,
			BounceHost: "bounce.example.com", ClickDomainID: click.ID, Algorithms: []string{"rsa"}, Status: domain.StatusPending,
			Records: map[string]RecordState{}, Rotation: []byte(`{}`), CreatedAt: now, UpdatedAt: now}
		if err := s.CreateSendingDomain(ctx, sd, nil, click, Limits{}); err != nil {
			t.Fatal(err)
		}
		links := mustDomain(t, s, "cl_a", "td_links", "links.example.com")
		for _, ds := range []DeliveryServer{{ID: "ds_1", ClusterID: "cl_a", Name: "mta1", URL: "smtp://a:25", TrackingDomainID: links.ID, CreatedAt: now},
			{ID: "ds_2", ClusterID: "cl_a", Name: "mta2", URL: "smtp://b:25", TrackingDomainID: click.ID, CreatedAt: now}} {
			if err := s.CreateDeliveryServer(ctx, ds); err != nil {
				t.Fatal(err)
			}
		}
		inUse := func(what string, err error, want InUseError) {
			t.Helper()
			var u *InUseError
			if !errors.Is(err, ErrInUse) || !errors.As(err, &u) || *u != want {
				t.Fatalf("%s: %v; want %+v", what, err, want)
			}
		}
		inUse("delete the click host", s.DeleteTrackingDomain(ctx, "cl_a", click.ID, nil),
			InUseError{Name: "clicks.example.com", Role: "click host", Kind: "sending domain", UserName: "example.com"})
		inUse("delete a delivery server's tracking domain", s.DeleteTrackingDomain(ctx, "cl_a", links.ID, nil),
			InUseError{Name: "links.example.com", Role: "tracking domain", Kind: "delivery server", UserName: "mta1"})
		inUse("delete the sending domain", s.DeleteSendingDomain(ctx, "cl_a", sd.ID),
			InUseError{Name: "clicks.example.com", Role: "tracking domain", Kind: "delivery server", UserName: "mta2"})
		if _, err := s.SendingDomain(ctx, "cl_a", sd.ID); err != nil {
			t.Fatalf("a refused delete changed something: %v", err)
		}
		for _, id := range []string{"ds_1", "ds_2"} {
			if err := s.DeleteDeliveryServer(ctx, "cl_a", id); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteTrackingDomain(ctx, "cl_a", links.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSendingDomain(ctx, "cl_a", sd.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TrackingDomain(ctx, "cl_a", click.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the click host outlived its sending domain: %v", err)
		}
	})
}

// TestKeys: a cluster's keys beyond the first, listed, bounded, revoked
// (with the sessions opened with them), and never another cluster's.
func TestKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_800_000_000, 0).UTC()
		first, err := s.APIKeys(ctx, "cl_a")
		if err != nil || len(first) != 1 || first[0].ID != KeyID("hash-cl_a") || first[0].Label != FirstKeyLabel {
			t.Fatalf("the first key: %+v %v", first, err)
		}
		k := APIKey{ID: KeyID("0123456789abcdef0123"), ClusterID: "cl_a", Label: "ci", Hash: "0123456789abcdef0123", CreatedAt: now}
		if err := s.CreateKey(ctx, k, 2); err != nil {
			t.Fatal(err)
		}
		var qe *QuotaError
		if err := s.CreateKey(ctx, APIKey{ID: "key_x", ClusterID: "cl_a", Hash: "x", CreatedAt: now}, 2); !errors.As(err, &qe) || qe.Count != 2 {
			t.Fatalf("over the bound: %v", err)
		}
		if err := s.CreateKey(ctx, APIKey{ID: "key_y", ClusterID: "cl_gone", Hash: "y", CreatedAt: now}, 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a key of no cluster: %v", err)
		}
		if c, err := s.ClusterByKey(ctx, k.Hash); err != nil || c.ID != "cl_a" {
			t.Fatalf("the new key's cluster: %+v %v", c, err)
		}
		if err := s.CreateSession(ctx, Session{ID: "ses_1", KeyHash: k.Hash, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RevokeKey(ctx, "cl_b", k.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another cluster revokes it: %v", err)
		}
		if got, err := s.RevokeKey(ctx, "cl_a", k.ID); err != nil || got.Hash != k.Hash {
			t.Fatalf("revoke: %+v %v", got, err)
		}
		if _, err := s.ClusterByKey(ctx, k.Hash); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a revoked key still opens: %v", err)
		}
		if _, err := s.Session(ctx, "ses_1", now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a revoked key's session is still on: %v", err)
		}
		if _, err := s.RevokeKey(ctx, "cl_a", k.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("revoked twice: %v", err)
		}
	})
}

// TestDeleteCluster: every row of a deleted cluster goes, in every table
// that holds a cluster's data, and the other cluster keeps all of its.
func TestDeleteCluster(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		for _, id := range []string{"cl_a", "cl_b"} {
			mustCluster(t, s, id, "name-"+id)
			mustDomain(t, s, id, "td_"+id, "track."+id[3:]+".example")
			steps := []error{
				s.CreateKey(ctx, APIKey{ID: KeyID("second-" + id), ClusterID: id, Hash: "second-" + id, CreatedAt: now}, 0),
				s.CreateSession(ctx, Session{ID: "ses_" + id, KeyHash: "second-" + id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}),
				s.AddSuppression(ctx, id, Suppression{Address: "ann@example.org", Reason: "manual", CreatedAt: now}),
				s.InsertEvents(ctx, []Event{{ID: "0000000000000001" + id, ClusterID: id, Type: "click", At: now, MessageID: "msg_1"}}),
				s.CreateWebhook(ctx, Webhook{ID: "wh_" + id, ClusterID: id, URL: "https://127.0.0.1/h", Events: []string{"*"}, Secret: "s", CreatedAt: now}),
				s.CreateDeliveryServer(ctx, DeliveryServer{ID: "ds_" + id, ClusterID: id, Name: "mta", URL: "smtp://127.0.0.1:25", CreatedAt: now}),
				s.SaveMessage(ctx, id, "msg_1", []byte("raw"), now),
				s.EnqueueMail(ctx, []Mail{{ID: "m_" + id, ClusterID: id, MessageID: "msg_1", Rcpt: "ann@example.org", ServerURL: "smtp://127.0.0.1:25", Data: []byte("x"), NextAt: now, CreatedAt: now}}),
			}
			if _, err := enqueue(s, id, "click", []byte(`{}`), now); err != nil {
				t.Fatal(err)
			}
			if _, err := s.FirstReport(ctx, "m_"+id, "bounce", "mx.example", now); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(steps...); err != nil {
				t.Fatal(err)
			}
		}
		// More than a batch of events and suppressions, so the delete takes
		// several steps.
		var many []Event
		var list []Suppression
		for i := range deleteBatch + 7 {
			many = append(many, Event{ID: fmt.Sprintf("%016x%08x", i+10, i), ClusterID: "cl_a", Type: "open", At: now, MessageID: "msg_1"})
			list = append(list, Suppression{Address: fmt.Sprintf("u%d@example.org", i), Reason: "manual", CreatedAt: now})
		}
		if err := s.InsertEvents(ctx, many); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddSuppressions(ctx, "cl_a", list); err != nil {
			t.Fatal(err)
		}
		// Certificates: cl_a's own name goes, a name cl_b has too stays,
		// and so does cl_b's.
		mustDomain(t, s, "cl_a", "td_shared_a", "shared.example.com")
		mustDomain(t, s, "cl_b", "td_shared_b", "shared.example.com")
		certs := map[string]bool{"certificates/ca-dir/track.a.example/track.a.example.crt": false,
			"certificates/ca-dir/track.a.example/track.a.example.key": false, "certificates/ca-dir/shared.example.com/shared.example.com.crt": true,
			"certificates/ca-dir/track.b.example/track.b.example.crt": true, "certificates/ca-dir/track.a.examplex/x.crt": true}
		for k := range certs {
			if err := s.PutBlob(ctx, k, []byte("pem"), now); err != nil {
				t.Fatal(err)
			}
		}
		serial, _ := s.ZoneSerial(ctx)
		if err := s.DeleteCluster(ctx, "cl_a"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCluster(ctx, "cl_a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
		for k, kept := range certs {
			if _, _, err := s.Blob(ctx, k); (err == nil) != kept {
				t.Errorf("%s: kept %v, want %v (%v)", k, err == nil, kept, err)
			}
		}
		if after, _ := s.ZoneSerial(ctx); after <= serial {
			t.Fatalf("the zone serial did not move: %d then %d", serial, after)
		}
		db := s.(*sqlStore).db
		count := func(q, id string) int {
			t.Helper()
			var n int
			if err := db.QueryRowContext(ctx, s.(*sqlStore).q(q), id).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
		tables := []string{"clusters WHERE id = ?", "api_keys WHERE cluster_id = ?", "tracking_domains WHERE cluster_id = ?",
			"suppressions WHERE cluster_id = ?", "events WHERE cluster_id = ?", "webhooks WHERE cluster_id = ?",
			"webhook_deliveries WHERE webhook_id = 'wh_' || ?", "delivery_servers WHERE cluster_id = ?", "messages WHERE cluster_id = ?",
			"mail_queue WHERE cluster_id = ?", "reports WHERE mail_id = 'm_' || ?", "sessions WHERE id = 'ses_' || ?", "token_keys WHERE cluster_id = ?"}
		for _, tb := range tables {
			if n := count("SELECT COUNT(*) FROM "+tb, "cl_a"); n != 0 {
				t.Errorf("%s: %d rows left", tb, n)
			}
			if n := count("SELECT COUNT(*) FROM "+tb, "cl_b"); n == 0 && tb != "token_keys WHERE cluster_id = ?" {
				t.Errorf("%s: the other cluster lost its rows", tb)
			}
		}
	})
}

// TestNoEventOutlivesItsCluster: events written while their cluster is
// deleted (an edge that decoded a link just before) are either deleted with
// it or never written: none is left for a cluster that is gone.
func TestNoEventOutlivesItsCluster(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		for round := range 3 {
			id := fmt.Sprintf("cl_race%d", round)
			mustCluster(t, s, id, "race"+id)
			stop := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						done <- nil
						return
					default:
					}
					if err := s.InsertEvents(ctx, []Event{{ID: fmt.Sprintf("%016x%08x%s", i+1, i, id), ClusterID: id, Type: "click", At: now, MessageID: "m"}}); err != nil {
						done <- err
						return
					}
					// A writer that never pauses starves SQLite's others
					// (its busy handler is not fair); the edge commits in
					// groups.
					time.Sleep(200 * time.Microsecond)
				}
			}()
			time.Sleep(20 * time.Millisecond)
			if err := s.DeleteCluster(ctx, id); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			close(stop)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var n int
			if err := s.(*sqlStore).db.QueryRowContext(ctx, s.(*sqlStore).q(`SELECT COUNT(*) FROM events WHERE cluster_id = ?`), id).Scan(&n); err != nil || n != 0 {
				t.Fatalf("round %d: %d events left of a deleted cluster (%v)", round, n, err)
			}
		}
	})
}
