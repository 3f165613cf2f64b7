package autotls

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	certsDesc = prometheus.NewDesc("waymark_certificates",
		"Names the edge serves over HTTPS, by certificate state: active (a certificate in memory), failed (the last order failed), pending (none yet).",
		[]string{"state"}, nil)
	expiryDesc = prometheus.NewDesc("waymark_certificate_expiry_seconds",
		"Seconds until the soonest of the served certificates expires (absent with none).", nil, nil)
)

// Describe implements prometheus.Collector.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) { ch <- certsDesc; ch <- expiryDesc }

// Collect implements prometheus.Collector: from this node's certificate
// cache, no store read.
func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	names := make([]string, 0, len(m.managed))
	for n := range m.managed {
		names = append(names, n)
	}
	failed := make(map[string]bool, len(m.failedNames))
	for n := range m.failedNames {
		failed[n] = true
	}
	m.mu.Unlock()
	counts := map[string]int{"active": 0, "failed": 0, "pending": 0}
	var soonest time.Time
	for _, n := range names {
		certs := m.cache.AllMatchingCertificates(n)
		switch {
		case len(certs) > 0:
			counts["active"]++
			for _, c := range certs {
				if c.Leaf != nil && (soonest.IsZero() || c.Leaf.NotAfter.Before(soonest)) {
					soonest = c.Leaf.NotAfter
				}
			}
		case failed[n]:
			counts["failed"]++
		default:
			counts["pending"]++
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(certsDesc, prometheus.GaugeValue, float64(n), state)
	}
	if !soonest.IsZero() {
		ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, time.Until(soonest).Seconds())
	}
}
