package store

import (
	"context"
	"strings"
	"time"

	"github.com/waymark-mail/waymark/internal/event"
)

// Suppressions holds each cluster's list of addresses it must not mail.
type Suppressions interface {
	// Suppress puts an address on a cluster's suppression list; an address
	// already there keeps its first reason.
	Suppress(ctx context.Context, clusterID, address string, reason event.Reason, now time.Time) error
	// Suppressed reports whether an address is on the cluster's list.
	Suppressed(ctx context.Context, clusterID, address string) (bool, error)
}

func (s *sqlStore) Suppress(ctx context.Context, clusterID, address string, reason event.Reason, now time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO suppressions (cluster_id, address, reason, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT (cluster_id, address) DO NOTHING`), clusterID, strings.ToLower(address), string(reason), micros(now))
	return s.wrap(err, "suppress")
}

func (s *sqlStore) Suppressed(ctx context.Context, clusterID, address string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM suppressions WHERE cluster_id = ? AND address = ?`),
		clusterID, strings.ToLower(address)).Scan(&n)
	return n > 0, s.wrap(err, "suppressed")
}
