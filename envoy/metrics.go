package envoy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tfgate/tfgate/authz"
)

// Metrics are the Check path's Prometheus metrics.
type Metrics struct {
	// The series of every outcome are resolved once, so a Check pays no
	// label lookup.
	allow, failed prometheus.Counter
	denied        map[authz.Denial]prometheus.Counter
	checks        *prometheus.CounterVec
	shedChecks    *prometheus.CounterVec
	// latency by result: allow, deny, error.
	latAllow, latDeny, latError prometheus.Observer
	inFlight                    prometheus.Gauge
	// quiet counts decision-log lines left out as browser noise.
	quiet prometheus.Counter
}

// NewMetrics registers the Check metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tfgate_checks_total",
		Help: "Check decisions by result (allow, deny, error) and denial kind.",
	}, []string{"result", "kind"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tfgate_check_duration_seconds",
		Help:    "Time to decide one Check, excluding gRPC transport, by result (allow, deny, error).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
	}, []string{"result"})
	m := &Metrics{
		allow:    checks.WithLabelValues("allow", ""),
		failed:   checks.WithLabelValues("error", ""),
		denied:   make(map[authz.Denial]prometheus.Counter, len(denialKinds)),
		checks:   checks,
		latAllow: latency.WithLabelValues("allow"),
		latDeny:  latency.WithLabelValues("deny"),
		latError: latency.WithLabelValues("error"),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tfgate_checks_in_flight",
			Help: "Checks being decided now.",
		}),
		quiet: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tfgate_decision_log_skipped_total",
			Help: "Decisions left out of the decision log as browser noise (decision_log.skip_browser_noise).",
		}),
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
	reg.MustRegister(checks, latency, m.inFlight, m.quiet, m.shedChecks)
	return m
}

var denialKinds = map[authz.Denial]string{
	authz.DenyUnauthenticated: "unauthenticated",
	authz.DenyForbidden:       "forbidden",
	authz.DenyBadRequest:      "bad_request",
}

// begin and end bracket a Check for the in-flight gauge.
func (m *Metrics) begin() {
	if m != nil {
		m.inFlight.Inc()
	}
}

func (m *Metrics) end() {
	if m != nil {
		m.inFlight.Dec()
	}
}

// observe counts a Check. A sampled traceID becomes the latency sample's
// exemplar, so a slow bucket on a dashboard links to a trace.
func (m *Metrics) observe(d *authz.Decision, err error, latency time.Duration, traceID string) {
	if m == nil {
		return
	}
	var h prometheus.Observer
	switch {
	case err != nil:
		m.failed.Inc()
		h = m.latError
	case d.Allow:
		m.allow.Inc()
		h = m.latAllow
	default:
		c, ok := m.denied[d.Denial]
		if !ok {
			c = m.checks.WithLabelValues("deny", "")
		}
		c.Inc()
		h = m.latDeny
	}
	if traceID != "" {
		if eo, ok := h.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(latency.Seconds(), prometheus.Labels{"trace_id": traceID})
			return
		}
	}
	h.Observe(latency.Seconds())
}

func (m *Metrics) shed(reason string) {
	if m == nil {
		return
	}
	m.shedChecks.WithLabelValues(reason).Inc()
}
