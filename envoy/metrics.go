package envoy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tfgate/tfgate/authz"
)

// Metrics are the Check path's Prometheus metrics.
type Metrics struct {
	checks  *prometheus.CounterVec
	latency prometheus.Histogram
}

// NewMetrics registers the Check metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfgate_checks_total",
			Help: "Check decisions by result (allow, deny, error) and denial kind.",
		}, []string{"result", "kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tfgate_check_duration_seconds",
			Help:    "Time to decide one Check, excluding gRPC transport.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
	}
	reg.MustRegister(m.checks, m.latency)
	return m
}

var denialKinds = map[authz.Denial]string{
	authz.NotDenied:           "",
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
		m.checks.WithLabelValues("error", "").Inc()
	case d.Allow:
		m.checks.WithLabelValues("allow", "").Inc()
	default:
		m.checks.WithLabelValues("deny", denialKinds[d.Denial]).Inc()
	}
}
