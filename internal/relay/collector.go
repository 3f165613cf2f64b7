package relay

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/waymark-mail/waymark/internal/store"
)

// QueueCollector reports the queue's depth at each scrape, from the store
// (so every node reports the same queue): messages by state and delivery
// server, and the oldest one's age by state.
type QueueCollector struct {
	Store interface {
		QueueStats(ctx context.Context, clusterID string) ([]store.QueueStat, error)
	}
	Now func() time.Time
}

var (
	queueDepth = prometheus.NewDesc("waymark_queue_messages",
		"Messages in the relay's queue, by state (queued: not tried yet; deferred: waiting for a retry) and delivery server.",
		[]string{"state", "server"}, nil)
	queueOldest = prometheus.NewDesc("waymark_queue_oldest_seconds",
		"Age of the oldest message in the relay's queue, by state.", []string{"state"}, nil)
	queueUp = prometheus.NewDesc("waymark_queue_stats_up",
		"1 if the queue's figures could be read at this scrape.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepth
	ch <- queueOldest
	ch <- queueUp
}

// Collect implements prometheus.Collector.
func (c QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.Store.QueueStats(ctx, "")
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUp, prometheus.GaugeValue, 1)
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	oldest := map[string]time.Time{"queued": {}, "deferred": {}}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(queueDepth, prometheus.GaugeValue, float64(s.Count), s.State, s.Server)
		if o := oldest[s.State]; o.IsZero() || s.Oldest.Before(o) {
			oldest[s.State] = s.Oldest
		}
	}
	for state, o := range oldest {
		age := 0.0
		if !o.IsZero() {
			age = now.Sub(o).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(queueOldest, prometheus.GaugeValue, age, state)
	}
}
