package notice

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/waymark-mail/waymark/internal/relay"
	"github.com/waymark-mail/waymark/internal/store"
)

// Clusters reads a cluster's name and notify_email.
type Clusters interface {
	Cluster(ctx context.Context, id string) (store.Cluster, error)
}

// Queue queues a notice durably (relay.Relay.QueueNotice).
type Queue interface {
	QueueNotice(ctx context.Context, clusterID, messageID, from string, raw []byte, rcpts []string) ([]string, error)
}

// Mailer mails notices to a cluster's notify_email from --notify-from.
type Mailer struct {
	Clusters Clusters
	Queue    Queue
	From     string
	Platform string
	Log      *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	mu       sync.Mutex
	certSent map[string]time.Time // tracking domain id -> last certificate notice
}

// CertEvery is how often a domain whose certificate keeps failing is
// mailed about: the CA is retried on its own, and each attempt reports.
const CertEvery = 24 * time.Hour

// CertFailed mails that the CA would not issue d's certificate, at most
// once per CertEvery for a domain.
func (m *Mailer) CertFailed(ctx context.Context, d store.TrackingDomain, err error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	m.mu.Lock()
	if last, ok := m.certSent[d.ID]; ok && now.Sub(last) < CertEvery {
		m.mu.Unlock()
		return
	}
	if m.certSent == nil {
		m.certSent = map[string]time.Time{}
	}
	m.certSent[d.ID] = now
	m.mu.Unlock()
	diagnosis := "the certificate authority did not issue a certificate"
	if err != nil {
		diagnosis += ": " + err.Error()
	}
	m.Send(ctx, d.ClusterID, Notice{Kind: CertFailed, At: now.UTC(), What: "tracking domain", Name: d.Name, Diagnosis: diagnosis,
		Records: []Record{{Name: d.Name, Type: "CNAME", Value: d.Target}}})
}

// Send mails n to the cluster's notify_email, if it lists any. A failure
// is logged: the webhook and the log line of the same notice still go.
func (m *Mailer) Send(ctx context.Context, clusterID string, n Notice) {
	c, err := m.Clusters.Cluster(ctx, clusterID)
	if err != nil {
		m.Log.Error("notice: read the cluster", "cluster", clusterID, "err", err)
		return
	}
	if len(c.NotifyEmail) == 0 {
		return
	}
	n.Cluster, n.Platform = c.Name, m.Platform
	id := relay.NewNoticeID()
	raw, err := Compose(m.From, c.NotifyEmail, n, id+"@"+m.Platform)
	if err != nil {
		m.Log.Error("notice: compose", "cluster", clusterID, "name", n.Name, "err", err)
		return
	}
	queued, err := m.Queue.QueueNotice(ctx, clusterID, id, m.From, raw, c.NotifyEmail)
	if err != nil {
		m.Log.Error("notice: queue", "cluster", clusterID, "name", n.Name, "err", err)
		return
	}
	m.Log.Info("notice queued", "cluster", clusterID, "kind", n.Kind, "name", n.Name, "message", id, "copies", len(queued))
}
