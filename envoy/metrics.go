package envoy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tfgate/tfgate/authz"
)

// Metrics are the Check path's Prometheus metrics.
type Metrics struct {
	latency prometheus.Histogram
	// The counters of every outcome are resolved once, so a Check pays
	// no label lookup.
	allow, failed prometheus.Counter
	denied        map[authz.Denial]prometheus.Counter
	checks        *prometheus.CounterVec
	shedChecks    *prometheus.CounterVec
}

// NewMetrics registers the Check metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tfgate_checks_total",
		Help: "Check decisions by result (allow, deny, error) and denial kind.",
	}, []string{"result", "kind"})
	m := &Metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tfgate_check_duration_seconds",
			Help:    "Time to decide one Check, excluding gRPC transport.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		allow:  checks.WithLabelValues("allow", ""),
		failed: checks.WithLabelValues("error", ""),
		denied: make(map[authz.Denial]prometheus.Counter, len(denialKinds)),
		checks: checks,
		shedChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfgate_checks_shed_total",
			Help: "Checks refused with RESOURCE_EXHAUSTED before deciding, by reason (queue_full, queue_timeout, memory).",
		}, []string{"reason"}),
	}
	for d, kind := range denialKinds {
		m.denied[d] = checks.WithLabelValues("deny", kind)
	}
	for _, reason := range []string{shedQueueFull, shedQueueTimeout, shedMemory} {
		m.shedChecks.WithLabelValues(reason) // exported at 0 from the start
	}
	reg.MustRegister(checks, m.latency, m.shedChecks)
	return m
}

var denialKinds = map[authz.Denial]string{
	authz.DenyUnauthenticated: "unauthenticated",
	authz.DenyForbidden:       "forbidden",
	authz.DenyBadRequest:      "bad_request",
}

func (m *Metrics) observe(d *authz.Decision, err error, latency time.Duration) {
	if m == nil {
		return
	}
	m.latency.Observe(latency.Seconds())
	switch {
	case err != nil:
		m.failed.Inc()
	case d.Allow:
		m.allow.Inc()
	default:
		c, ok := m.denied[d.Denial]
		if !ok {
			c = m.checks.WithLabelValues("deny", "")
		}
		c.Inc()
	}
}

func (m *Metrics) shed(reason string) {
	if m == nil {
		return
	}
	m.shedChecks.WithLabelValues(reason).Inc()
}
