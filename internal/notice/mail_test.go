package notice

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/waymark-mail/waymark/internal/store"
)

type fakeClusters map[string]store.Cluster

func (f fakeClusters) Cluster(_ context.Context, id string) (store.Cluster, error) {
	c, ok := f[id]
	if !ok {
		return c, store.ErrNotFound
	}
	return c, nil
}

type queued struct {
	cluster, id, from string
	raw               []byte
	rcpts             []string
}

type fakeQueue struct{ got []queued }

func (q *fakeQueue) QueueNotice(_ context.Context, clusterID, messageID, from string, raw []byte, rcpts []string) ([]string, error) {
	q.got = append(q.got, queued{clusterID, messageID, from, raw, rcpts})
	return rcpts, nil
}

// TestMailer: a notice goes to the cluster's notify_email from
// --notify-from, named after the cluster; a cluster without addresses
// gets none; a certificate that keeps failing is mailed once a day.
func TestMailer(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	q := &fakeQueue{}
	m := &Mailer{Clusters: fakeClusters{
		"cl_a": {ID: "cl_a", Name: "acme", NotifyEmail: []string{"ops@acme.example"}},
		"cl_b": {ID: "cl_b", Name: "bravo"},
	}, Queue: q, From: "notices@waymark.localhost", Platform: "waymark.localhost", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return now }}
	m.Send(context.Background(), "cl_a", warning)
	m.Send(context.Background(), "cl_b", warning)
	if len(q.got) != 1 || q.got[0].cluster != "cl_a" || q.got[0].from != "notices@waymark.localhost" || q.got[0].rcpts[0] != "ops@acme.example" ||
		!strings.HasPrefix(q.got[0].id, "ntc_") || !strings.Contains(string(q.got[0].raw), "Message-Id: <"+q.got[0].id+"@waymark.localhost>") {
		t.Fatalf("queued: %+v", q.got)
	}
	d := store.TrackingDomain{ID: "td_1", ClusterID: "cl_a", Name: "track.acme.example", Target: "v-1.track.waymark.localhost"}
	for range 3 {
		m.CertFailed(context.Background(), d, errors.New("urn:ietf:params:acme:error:caa"))
	}
	if len(q.got) != 2 || !strings.Contains(string(q.got[1].raw), "Subject: No certificate for the tracking domain track.acme.example") {
		t.Fatalf("certificate notices: %d", len(q.got))
	}
	now = now.Add(CertEvery)
	m.CertFailed(context.Background(), d, nil)
	if len(q.got) != 3 {
		t.Fatalf("a day later: %d notices", len(q.got))
	}
}
