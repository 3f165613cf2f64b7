package relay

import (
	"strconv"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's and its SMTP services' (docs/OPERATIONS.md#metrics).
// A nil *Metrics counts nothing.
type Metrics struct {
	deliveries *prometheus.CounterVec
	attempt    prometheus.Histogram
	delay      prometheus.Histogram
	sessions   *prometheus.CounterVec
	authFails  *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	reports    *prometheus.CounterVec
}

// NewMetrics registers the relay's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_deliveries_total",
			Help: "Delivery attempts by outcome (sent, deferred, bounced) and delivery server.",
		}, []string{"outcome", "server"}),
		attempt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waymark_delivery_attempt_seconds",
			Help:    "How long one message's SMTP transaction with its delivery server took.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "waymark_delivery_delay_seconds",
			Help:    "From queueing to the delivery server's acceptance, of the copies sent.",
			Buckets: []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_smtp_sessions_total",
			Help: "SMTP sessions opened, by service (submission, bounce).",
		}, []string{"service"}),
		authFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_smtp_auth_failures_total",
			Help: "Failed SMTP AUTH attempts, by service and why (wrong_key, throttled).",
		}, []string{"service", "reason"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_smtp_refusals_total",
			Help: "SMTP replies refusing a command or a message, by service, reply code and enhanced code.",
		}, []string{"service", "code", "enhanced"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "waymark_bounce_events_total",
			Help: "Bounce and complaint events recorded, by type and class (hard, soft, failed; complaints have none).",
		}, []string{"type", "class"}),
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.attempt, m.delay, m.sessions, m.authFails, m.refusals, m.reports)
	}
	return m
}

func (m *Metrics) delivered(outcome, server string) {
	if m != nil {
		m.deliveries.WithLabelValues(outcome, server).Inc()
	}
}

func (m *Metrics) attempted(d time.Duration) {
	if m != nil {
		m.attempt.Observe(d.Seconds())
	}
}

func (m *Metrics) sentAfter(d time.Duration) {
	if m != nil {
		m.delay.Observe(d.Seconds())
	}
}

// Session counts an SMTP session of a service.
func (m *Metrics) Session(service string) {
	if m != nil {
		m.sessions.WithLabelValues(service).Inc()
	}
}

// AuthFailed counts a failed AUTH of a service.
func (m *Metrics) AuthFailed(service, reason string) {
	if m != nil {
		m.authFails.WithLabelValues(service, reason).Inc()
	}
}

// Refused counts err if it is an SMTP refusal (4xx or 5xx) and returns it.
func (m *Metrics) Refused(service string, err error) error {
	if m == nil || err == nil {
		return err
	}
	if se, ok := err.(*smtp.SMTPError); ok && se.Code >= 400 {
		e := se.EnhancedCode
		enh := ""
		if e != smtp.NoEnhancedCode && e != smtp.EnhancedCodeNotSet {
			enh = strconv.Itoa(e[0]) + "." + strconv.Itoa(e[1]) + "." + strconv.Itoa(e[2])
		}
		m.refusals.WithLabelValues(service, strconv.Itoa(se.Code), enh).Inc()
	}
	return err
}

// Recorded counts a bounce or complaint event.
func (m *Metrics) Recorded(typ, class string) {
	if m != nil {
		m.reports.WithLabelValues(typ, class).Inc()
	}
}
