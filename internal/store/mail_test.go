package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestDeliveryServers(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_000_000, 0).UTC()
		// A tracking domain it names must exist (in its cluster).
		if err := s.CreateDeliveryServer(ctx, DeliveryServer{ID: "ds_0", ClusterID: "cl_a", Name: "mta0", URL: "smtp://x:25",
			TrackingDomainID: "td_1", CreatedAt: now}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a delivery server on a tracking domain that does not exist: %v", err)
		}
		mustDomain(t, s, "cl_a", "td_1", "track.acme.example")
		for _, d := range []DeliveryServer{
			{ID: "ds_1", ClusterID: "cl_a", Name: "mta1", URL: "smtp://127.0.0.1:25", Default: true, CreatedAt: now},
			{ID: "ds_2", ClusterID: "cl_a", Name: "mta2", URL: "smtp://127.0.0.1:26", TrackingDomainID: "td_1", Default: true, CreatedAt: now},
			{ID: "ds_3", ClusterID: "cl_b", Name: "mta1", URL: "smtp://127.0.0.1:27", CreatedAt: now},
		} {
			if err := s.CreateDeliveryServer(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		err := s.CreateDeliveryServer(ctx, DeliveryServer{ID: "ds_4", ClusterID: "cl_a", Name: "mta1", URL: "smtp://x:25", CreatedAt: now})
		if !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate name: %v", err)
		}
		list, err := s.DeliveryServers(ctx, "cl_a")
		if err != nil || len(list) != 2 || list[0].Default || !list[1].Default || list[1].TrackingDomainID != "td_1" {
			t.Fatalf("servers (the second default replaces the first): %+v %v", list, err)
		}
		if err := s.DeleteDeliveryServer(ctx, "cl_b", "ds_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("cross-cluster delete: %v", err)
		}
		if err := s.DeleteDeliveryServer(ctx, "cl_a", "ds_1"); err != nil {
			t.Fatal(err)
		}
		if list, err := s.DeliveryServers(ctx, "cl_a"); err != nil || len(list) != 1 {
			t.Fatalf("after delete: %+v (err %v)", list, err)
		}
	})
}

func TestMailQueue(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		now := time.Unix(1_000_000, 0).UTC()
		data := []byte("From: a@example.com\r\n\r\n\x00\xff 8-bit body\r\n") // any bytes survive
		mail := func(id string, due time.Time) Mail {
			return Mail{ID: id, ClusterID: "cl_a", MessageID: "msg_1", From: "b-" + id + "@bounce.example.com",
				Rcpt: id + "@example.org", ServerURL: "smtp://127.0.0.1:25", Data: data, NextAt: due, CreatedAt: now}
		}
		if err := s.EnqueueMail(ctx, []Mail{mail("m1", now), mail("m2", now), mail("m3", now.Add(time.Hour))}); err != nil {
			t.Fatal(err)
		}
		if err := s.EnqueueMail(ctx, []Mail{mail("m4", now), mail("m1", now)}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("a batch with a duplicate: %v", err)
		}
		if _, err := s.MailByID(ctx, "m4"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("half a failed batch was stored: %v", err)
		}
		got, err := s.ClaimMail(ctx, now, time.Minute, 10)
		if err != nil || len(got) != 2 || !bytes.Equal(got[0].Data, data) || got[0].Status != MailQueued || got[0].Rcpt == "" {
			t.Fatalf("claim: %+v %v", got, err)
		}
		if again, err := s.ClaimMail(ctx, now.Add(30*time.Second), time.Minute, 10); err != nil || len(again) != 0 {
			t.Fatalf("claimed twice within the lease: %d (err %v)", len(again), err)
		}
		ev := &Event{ID: NewEventID(now), ClusterID: "cl_a", Type: "relayed", At: now, MessageID: "msg_1", Recipient: "m1@example.org"}
		if err := s.FinishMail(ctx, "m1", MailSent, "", time.Time{}, now, ev); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishMail(ctx, "m2", MailQueued, "421 try later", now.Add(5*time.Minute), now, nil); err != nil {
			t.Fatal(err)
		}
		// m1 sent, m2 deferred, m3 not tried: what the queue metrics read.
		stats, err := s.QueueStats(ctx, "")
		if err != nil || len(stats) != 2 || stats[0] != (QueueStat{State: "deferred", Server: "smtp://127.0.0.1:25", Count: 1, Oldest: now}) ||
			stats[1].State != "queued" || stats[1].Count != 1 {
			t.Fatalf("queue stats %+v %v", stats, err)
		}
		if other, err := s.QueueStats(ctx, "cl_b"); err != nil || len(other) != 0 {
			t.Fatalf("another cluster's queue: %+v %v", other, err)
		}
		if own, err := s.QueueStats(ctx, "cl_a"); err != nil || len(own) != 2 {
			t.Fatalf("the cluster's queue: %+v %v", own, err)
		}
		copies, err := s.MailsOf(ctx, "cl_a", "msg_1")
		if err != nil || len(copies) != 3 || copies[0].Data != nil {
			t.Fatalf("copies of msg_1: %+v %v", copies, err)
		}
		if none, err := s.MailsOf(ctx, "cl_b", "msg_1"); err != nil || len(none) != 0 {
			t.Fatalf("another cluster's copies: %+v %v", none, err)
		}
		m1, err := s.MailByID(ctx, "m1")
		if err != nil || m1.Status != MailSent || m1.Attempts != 1 || m1.Rcpt != "m1@example.org" || m1.Data != nil {
			t.Fatalf("sent: %+v %v", m1, err)
		}
		// A finished message is never claimed or finished again.
		if err := s.FinishMail(ctx, "m1", MailQueued, "late", now, now, nil); err != nil {
			t.Fatal(err)
		}
		if m1, err := s.MailByID(ctx, "m1"); err != nil || m1.Status != MailSent {
			t.Fatalf("finished twice: %+v (err %v)", m1, err)
		}
		// The event came with the outcome, once: finishing again adds none.
		again := &Event{ID: NewEventID(now.Add(time.Second)), ClusterID: "cl_a", Type: "relayed", At: now, MessageID: "msg_1"}
		if err := s.FinishMail(ctx, "m1", MailSent, "", time.Time{}, now, again); err != nil {
			t.Fatal(err)
		}
		if evs, err := s.Events(ctx, "cl_a", EventQuery{Type: "relayed", Limit: 10}); err != nil || len(evs) != 1 || evs[0].Recipient != "m1@example.org" {
			t.Fatalf("relayed events: %+v (err %v)", evs, err)
		}
		retry, err := s.ClaimMail(ctx, now.Add(5*time.Minute), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(retry) != 1 || retry[0].ID != "m2" || retry[0].Attempts != 1 || retry[0].LastError != "421 try later" {
			t.Fatalf("retry: %+v", retry)
		}
		if err := s.FinishMail(ctx, "m2", MailFailed, "550 5.1.1 no such user", time.Time{}, now.Add(5*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PurgeMail(ctx, now.Add(time.Minute)); n != 1 || err != nil {
			t.Fatalf("purge (only m1 finished before): %d %v", n, err)
		}
		if _, err := s.MailByID(ctx, "m1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("purged mail: %v", err)
		}
		if m3, err := s.MailByID(ctx, "m3"); err != nil || m3.Status != MailQueued {
			t.Fatalf("queued mail purged: %+v (err %v)", m3, err)
		}
		// Mail sent another way is stored as sent, never claimed.
		sent := mail("m5", now)
		sent.Status = MailSent
		if err := s.EnqueueMail(ctx, []Mail{sent}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ClaimMail(ctx, now.Add(time.Hour), time.Minute, 10); err != nil || len(got) != 1 || got[0].ID != "m3" {
			t.Fatalf("claimed: %+v (err %v)", got, err)
		}
		if m5, err := s.MailByID(ctx, "m5"); err != nil || m5.Status != MailSent || m5.Rcpt != "m5@example.org" {
			t.Fatalf("sent row: %+v %v", m5, err)
		}
	})
}

// TestMailClaimsDoNotOverlap: claimers at once (nodes, on PostgreSQL)
// never take the same message.
func TestMailClaimsDoNotOverlap(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		now := time.Unix(1_000_000, 0).UTC()
		var batch []Mail
		for i := range 200 {
			id := fmt.Sprintf("m%03d", i)
			batch = append(batch, Mail{ID: id, ClusterID: "cl_a", MessageID: "msg", From: "b@x", Rcpt: id + "@x",
				ServerURL: "smtp://x:25", Data: []byte("x"), NextAt: now, CreatedAt: now})
		}
		if err := s.EnqueueMail(ctx, batch); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					got, err := s.ClaimMail(ctx, now, time.Hour, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, m := range got {
						seen[m.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 200 {
			t.Fatalf("claimed %d of 200", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%s claimed %d times", id, n)
			}
		}
	})
}

func TestSavedMessages(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		mustCluster(t, s, "cl_b", "bravo")
		now := time.Unix(1_000_000, 0).UTC()
		raw := []byte("From: a@example.com\r\n\r\n\xff\x00 body\r\n")
		if err := s.SaveMessage(ctx, "cl_a", "msg_1", raw, now); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveMessage(ctx, "cl_a", "msg_1", []byte("other"), now); err != nil {
			t.Fatalf("saved twice: %v", err)
		}
		if got, err := s.Message(ctx, "cl_a", "msg_1"); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("message: %q %v", got, err)
		}
		if _, err := s.Message(ctx, "cl_b", "msg_1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("another cluster's message: %v", err)
		}
		if n, err := s.PurgeMessages(ctx, now.Add(time.Second)); n != 1 || err != nil {
			t.Fatalf("purge: %d %v", n, err)
		}
	})
}

func TestForwardsAndMailFor(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		mustCluster(t, s, "cl_a", "acme")
		now := time.Unix(1_000_000, 0).UTC()
		for i, key := range []string{"msg_1/aa", "msg_1/bb"} {
			m := Mail{ID: fmt.Sprintf("m%d", i), ClusterID: "cl_a", MessageID: "msg_1", From: "b@x", Rcpt: "ann@example.org",
				ServerURL: "smtp://x:25", Data: []byte("x"), NextAt: now, CreatedAt: now.Add(time.Duration(i) * time.Second), SavedMessage: key}
			if err := s.EnqueueMail(ctx, []Mail{m}); err != nil {
				t.Fatal(err)
			}
		}
		if m, err := s.MailFor(ctx, "cl_a", "msg_1", "ann@example.org"); err != nil || m.SavedMessage != "msg_1/bb" {
			t.Fatalf("latest copy: %+v %v", m, err)
		}
		if _, err := s.MailFor(ctx, "cl_a", "msg_1", "bob@example.org"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no copy: %v", err)
		}
		// At most 3, also when taken at once.
		var wg sync.WaitGroup
		var mu sync.Mutex
		took := 0
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.TakeForward(ctx, "cl_a", "msg_1", "Ann@example.org", 3)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					took++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if took != 3 {
			t.Fatalf("took %d forwards of 3", took)
		}
		if ok, err := s.TakeForward(ctx, "cl_a", "msg_1", "bob@example.org", 3); err != nil || !ok {
			t.Fatalf("another recipient's forwards are counted apart (err %v)", err)
		}
	})
}

// TestReleaseMail: claimed mail released (a node shutting down before it
// tried it) is due again at once, with no attempt counted; finished mail
// is not brought back.
func TestReleaseMail(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		if err := s.CreateCluster(ctx, Cluster{ID: "cl_a", Name: "acme", CreatedAt: now}, "h"); err != nil {
			t.Fatal(err)
		}
		var mails []Mail
		for _, id := range []string{"m1", "m2"} {
			mails = append(mails, Mail{ID: id, ClusterID: "cl_a", MessageID: "msg_1", From: "b-" + id + "@bounce.example.com",
				Rcpt: id + "@example.org", ServerURL: "smtp://x:25", Data: []byte("x"), Status: MailQueued, NextAt: now, CreatedAt: now})
		}
		if err := s.EnqueueMail(ctx, mails); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.ClaimMail(ctx, now, time.Hour, 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		if err := s.FinishMail(ctx, "m2", MailSent, "", time.Time{}, now, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseMail(ctx, []string{"m1", "m2"}, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		again, err := s.ClaimMail(ctx, now.Add(time.Second), time.Hour, 10)
		if err != nil || len(again) != 1 || again[0].ID != "m1" || again[0].Attempts != 0 {
			t.Fatalf("after release: %+v %v", again, err)
		}
		if m, err := s.MailByID(ctx, "m2"); err != nil || m.Status != MailSent {
			t.Fatalf("sent mail after release: %+v %v", m, err)
		}
	})
}

// TestFirstReport: the first report of a kind about a copy from a
// reporter is new; the same again is not; another reporter or kind is.
func TestFirstReport(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		for _, tc := range []struct {
			mail, kind, reporter string
			first                bool
		}{
			{"m1", "bounce", "mx.example", true},
			{"m1", "bounce", "mx.example", false},
			{"m1", "bounce", "mx2.example", true},
			{"m1", "complaint", "mx.example", true},
			{"m2", "bounce", "mx.example", true},
		} {
			if got, err := s.FirstReport(ctx, tc.mail, tc.kind, tc.reporter, now); err != nil || got != tc.first {
				t.Errorf("%+v: %v %v", tc, got, err)
			}
		}
	})
}
