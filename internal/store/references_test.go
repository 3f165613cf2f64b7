package store

import (
	"context"
	"errors"
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
		inUse("delete the click host", s.DeleteTrackingDomain(ctx, "cl_a", click.ID),
			InUseError{Name: "clicks.example.com", Role: "click host", Kind: "sending domain", UserName: "example.com"})
		inUse("delete a delivery server's tracking domain", s.DeleteTrackingDomain(ctx, "cl_a", links.ID),
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
		if err := s.DeleteTrackingDomain(ctx, "cl_a", links.ID); err != nil {
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
