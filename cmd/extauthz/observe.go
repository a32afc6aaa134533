package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/rego"
	"github.com/tfgate/tfgate/samlverify/sp"
	"github.com/tfgate/tfgate/telemetry"
)

// observability collects, for /metrics and /statusz, the state of the parts
// serveOn wires: the policy, the session store, the IdPs. It reads their
// status on scrape, so the Check path pays nothing for most of it.
type observability struct {
	started time.Time
	cfg     Config
	policy  *policyParts
	store   *sessionStore
	idps    *idpState
	tracing bool
}

// idpState remembers each IdP's last metadata refresh, reported by its
// Source, and counts what the SP and the token endpoint did.
type idpState struct {
	mu       sync.Mutex
	last     map[string]idpRefresh
	failures *prometheus.CounterVec
	tracer   *telemetry.Tracer
	sp       *prometheus.CounterVec
}

type idpRefresh struct {
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

func newIdPState(tracer *telemetry.Tracer) *idpState {
	s := &idpState{
		last: map[string]idpRefresh{},
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfgate_idp_metadata_refreshes_total",
			Help: "IdP metadata refreshes by IdP (the configured name) and result (success, failure).",
		}, []string{"idp", "result"}),
		tracer: tracer,
		sp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfgate_saml_events_total",
			Help: "SAML ACS posts (event acs), token grants (token, by grant), revocations (revoke) by outcome " +
				"(success, or the reason or OAuth error code), and reuses of a refresh token or code (reuse), " +
				"which revoke the grant's tokens.",
		}, []string{"event", "grant", "outcome"}),
	}
	// The series dashboards divide by exist from the start.
	s.sp.WithLabelValues(sp.EventACS, "", "success")
	s.sp.WithLabelValues(sp.EventRevoke, "", "success")
	for _, g := range []string{sp.GrantAuthorizationCode, sp.GrantRefreshToken, sp.GrantSAML2Bearer} {
		s.sp.WithLabelValues(sp.EventToken, g, "success")
	}
	s.sp.WithLabelValues(sp.EventReuse, sp.GrantRefreshToken, "")
	return s
}

// spEvent counts one outcome of the SP or the token endpoint.
func (s *idpState) spEvent(e sp.Event) {
	s.sp.WithLabelValues(e.Kind, e.Grant, e.Outcome).Inc()
}

// known makes IdP name's refresh counters exist at 0 before its first
// refresh, so alerts on them have a series to compare.
func (s *idpState) known(name string) {
	if s == nil {
		return
	}
	s.failures.WithLabelValues(name, "success")
	s.failures.WithLabelValues(name, "failure")
}

// refreshed records one refresh of IdP name's metadata.
func (s *idpState) refreshed(name string, started time.Time, err error) {
	r, result := idpRefresh{At: started}, "success"
	if err != nil {
		r.Error, result = err.Error(), "failure"
	}
	s.mu.Lock()
	s.last[name] = r
	s.mu.Unlock()
	s.failures.WithLabelValues(name, result).Inc()
	s.tracer.MetadataRefresh(name, started, err)
}

// loaded records the initial load of IdP name's metadata (a span; the
// refresh metrics and /statusz count refreshes only).
func (s *idpState) loaded(name string, started time.Time, err error) {
	if s != nil {
		s.tracer.MetadataLoad(name, started, err)
	}
}

func (s *idpState) get(name string) (idpRefresh, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.last[name]
	return r, ok
}

// register adds every metric of o to reg.
func (o *observability) register(reg prometheus.Registerer, saml *samlSP) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tfgate_build_info", Help: "Always 1; the labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tfgate_start_time_seconds", Help: "When this process started (Unix time).",
		}, func() float64 { return float64(o.started.UnixNano()) / 1e9 }),
		o.idps.failures,
		o.idps.sp,
		policyCollector{o.policy},
		sessionCollector{o.store},
		idpCollector{saml, time.Now},
	)
	if o.store.redis != nil {
		lag := prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tfgate_session_invalidation_lag_seconds",
			Help:    "Time from a replica publishing a session invalidation to this one hearing it (includes clock skew between replicas).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		})
		reg.MustRegister(lag)
		o.store.redis.ObserveInvalidationLag(func(d time.Duration) { lag.Observe(d.Seconds()) })
	}
}

// gauge and counter build one sample for a Collect.
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	descPolicyInfo = prometheus.NewDesc("tfgate_policy_info",
		"Always 1; revision is the policy in force, source where it comes from (bundle, dir, embedded).", []string{"revision", "source"}, nil)
	descPolicyReloads = prometheus.NewDesc("tfgate_policy_reloads_total",
		"Policy reloads by result (success, failure); a failure keeps the last good policy.", []string{"result"}, nil)
	descPolicyReloadOK = prometheus.NewDesc("tfgate_policy_last_reload_ok",
		"1 if the last policy reload (or the initial load) worked, 0 if it failed and an older revision serves.", nil, nil)
	descPolicyLoaded = prometheus.NewDesc("tfgate_policy_last_reload_success_timestamp_seconds",
		"When the policy in force was loaded (Unix time).", nil, nil)
	descPolicyAge = prometheus.NewDesc("tfgate_policy_seconds_since_last_reload_success",
		"Seconds since the policy in force was loaded.", nil, nil)
	descDecisionCache = prometheus.NewDesc("tfgate_policy_decision_cache_lookups_total",
		"Decision-cache lookups by result (hit, miss).", []string{"result"}, nil)
	descEngineChecks = prometheus.NewDesc("tfgate_policy_engine_live_checks_total",
		"Uncached decisions of the compiled engine also evaluated by OPA's evaluator (one in 1,024), by result (match, mismatch); a mismatch switches the revision to OPA's evaluator.", []string{"result"}, nil)
	descPolicyEngine = prometheus.NewDesc("tfgate_policy_engine",
		"1 for the engine evaluating the policy in force (compiled: OPA's plan run by tfgate; topdown: OPA's evaluator), 0 for the other; /statusz policy.engine_note says why topdown.", []string{"engine"}, nil)
)

type policyCollector struct{ p *policyParts }

func (c policyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPolicyInfo, descPolicyReloads, descPolicyReloadOK, descPolicyLoaded, descPolicyAge, descDecisionCache, descPolicyEngine, descEngineChecks} {
		ch <- d
	}
}

func (c policyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.Status()
	ch <- gauge(descPolicyInfo, 1, st.Revision, c.p.source())
	ch <- counter(descPolicyReloads, st.Reloads-st.ReloadFailures, "success")
	ch <- counter(descPolicyReloads, st.ReloadFailures, "failure")
	ch <- gauge(descPolicyReloadOK, b2f(st.LastReloadOK))
	ch <- gauge(descPolicyLoaded, float64(st.LoadedAt.UnixNano())/1e9)
	ch <- gauge(descPolicyAge, time.Since(st.LoadedAt).Seconds())
	ch <- counter(descDecisionCache, st.CacheHits, "hit")
	ch <- counter(descDecisionCache, st.CacheMisses, "miss")
	for _, e := range []string{rego.EngineCompiled, rego.EngineTopdown} {
		ch <- gauge(descPolicyEngine, b2f(st.Engine == e), e)
	}
	ch <- counter(descEngineChecks, st.EngineChecks-st.EngineMismatches, "match")
	ch <- counter(descEngineChecks, st.EngineMismatches, "mismatch")
}

var (
	descSessionCache = prometheus.NewDesc("tfgate_session_cache_lookups_total",
		"Local session cache lookups by result (hit, miss).", []string{"result"}, nil)
	descSessionEvictions = prometheus.NewDesc("tfgate_session_cache_evictions_total",
		"Live sessions dropped from the local cache to make room.", nil, nil)
	descSessionEntries = prometheus.NewDesc("tfgate_session_cache_entries",
		"Entries in the local session cache (Redis) or the memory store.", []string{"store"}, nil)
	descSubscribed = prometheus.NewDesc("tfgate_session_invalidation_subscribed",
		"1 while the Redis pub/sub subscription that invalidates cached sessions is up.", nil, nil)
	descRedisUp = prometheus.NewDesc("tfgate_redis_up",
		"1 if the last readiness ping of Redis answered.", nil, nil)
	descPool = prometheus.NewDesc("tfgate_redis_pool_events_total",
		"Redis connection pool events (hit, miss, timeout).", []string{"event"}, nil)
	descPoolConns = prometheus.NewDesc("tfgate_redis_pool_connections",
		"Redis connections by state (idle, total).", []string{"state"}, nil)
)

type sessionCollector struct{ s *sessionStore }

func (c sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessionCache, descSessionEvictions, descSessionEntries, descSubscribed, descRedisUp, descPool, descPoolConns} {
		ch <- d
	}
}

func (c sessionCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if s.redis == nil {
		if m, ok := s.Backend.(interface{ Len() int }); ok {
			ch <- gauge(descSessionEntries, float64(m.Len()), "memory")
		}
		return
	}
	ch <- gauge(descRedisUp, b2f(s.Ready(context.Background()) == nil))
	if s.cache != nil {
		st := s.cache.Stats()
		ch <- counter(descSessionCache, st.Hits, "hit")
		ch <- counter(descSessionCache, st.Misses, "miss")
		ch <- counter(descSessionEvictions, st.Evictions)
		ch <- gauge(descSessionEntries, float64(s.cache.Len()), "cache")
		ch <- gauge(descSubscribed, b2f(st.Subscribed))
	}
	if p := s.client.PoolStats(); p != nil {
		ch <- counter(descPool, uint64(p.Hits), "hit")
		ch <- counter(descPool, uint64(p.Misses), "miss")
		ch <- counter(descPool, uint64(p.Timeouts), "timeout")
		ch <- gauge(descPoolConns, float64(p.IdleConns), "idle")
		ch <- gauge(descPoolConns, float64(p.TotalConns), "total")
	}
}

var (
	descCertExpiry = prometheus.NewDesc("tfgate_idp_signing_cert_expiry_seconds",
		"Seconds until the IdP's signing certificate that expires first expires (negative: expired).", []string{"idp"}, nil)
	descValidUntil = prometheus.NewDesc("tfgate_idp_metadata_valid_until_seconds",
		"Seconds until the IdP metadata's validUntil (absent when it has none).", []string{"idp"}, nil)
)

type idpCollector struct {
	saml *samlSP
	now  func() time.Time
}

func (c idpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCertExpiry
	ch <- descValidUntil
}

func (c idpCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, idp := range c.saml.idpStates(nil) {
		if !idp.CertNotAfter.IsZero() {
			ch <- gauge(descCertExpiry, idp.CertNotAfter.Sub(now).Seconds(), idp.Name)
		}
		if !idp.ValidUntil.IsZero() {
			ch <- gauge(descValidUntil, idp.ValidUntil.Sub(now).Seconds(), idp.Name)
		}
	}
}

// timedPolicy measures policy evaluations for
// tfgate_policy_evaluation_duration_seconds, by whether the decision cache
// answered.
type timedPolicy struct {
	authz.Policy
	cached, evaluated prometheus.Observer
}

func newTimedPolicy(p authz.Policy, reg prometheus.Registerer) *timedPolicy {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tfgate_policy_evaluation_duration_seconds",
		Help:    "Time to evaluate the policy on one target, by whether the decision cache answered (cached: true, false).",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025},
	}, []string{"cached"})
	reg.MustRegister(h)
	return &timedPolicy{Policy: p, cached: h.WithLabelValues("true"), evaluated: h.WithLabelValues("false")}
}

func (t *timedPolicy) Evaluate(ctx context.Context, in *authz.Input) (authz.Verdict, error) {
	start := time.Now()
	v, err := t.Policy.Evaluate(ctx, in)
	if v.Cached {
		t.cached.Observe(time.Since(start).Seconds())
	} else {
		t.evaluated.Observe(time.Since(start).Seconds())
	}
	return v, err
}

// timedSessions measures lookups in the session store itself (Redis behind
// the local cache, or the memory store) for
// tfgate_session_lookup_duration_seconds{source="store"}, and counts Redis
// errors by kind.
type timedSessions struct {
	authz.SessionStore
	latency prometheus.Observer
	errs    *prometheus.CounterVec // nil for the memory store
}

// lookupMetrics are tfgate_session_lookup_duration_seconds and
// tfgate_session_redis_errors_total. Their labels are bounded: store
// (memory, redis) and source (cache, store); error kinds.
type lookupMetrics struct {
	latency *prometheus.HistogramVec
	errs    *prometheus.CounterVec
}

func newLookupMetrics(reg prometheus.Registerer) *lookupMetrics {
	m := &lookupMetrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tfgate_session_lookup_duration_seconds",
			Help:    "Time to look a session up, by store (memory, redis) and source (cache: answered by the local cache in front of Redis; store: the store itself).",
			Buckets: []float64{.000001, .0000025, .000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}, []string{"store", "source"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tfgate_session_redis_errors_total",
			Help: "Failed Redis session lookups by kind (timeout, connection, other); each failed a Check closed.",
		}, []string{"kind"}),
	}
	for _, k := range []string{"timeout", "connection", "other"} {
		m.errs.WithLabelValues(k)
	}
	reg.MustRegister(m.latency, m.errs)
	return m
}

func (m *lookupMetrics) wrap(s authz.SessionStore, store string) authz.SessionStore {
	t := &timedSessions{SessionStore: s, latency: m.latency.WithLabelValues(store, "store")}
	if store == "redis" {
		t.errs = m.errs
	}
	return t
}

func (t *timedSessions) Lookup(ctx context.Context, token string) (authz.Session, error) {
	start := time.Now()
	s, err := t.SessionStore.Lookup(ctx, token)
	t.latency.Observe(time.Since(start).Seconds())
	if err != nil && t.errs != nil && !errors.Is(err, authz.ErrNoSession) {
		t.errs.WithLabelValues(redisErrorKind(err)).Inc()
	}
	return s, err
}

// redisErrorKind sorts a Redis failure for tfgate_session_redis_errors_total.
func redisErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, new(*net.OpError)), strings.Contains(err.Error(), "connection"),
		strings.Contains(err.Error(), "pool"):
		return "connection"
	}
	return "other"
}

// sessionHooks are the metrics and tracing around the session store:
// lookup latency (cache hits and the store itself) and Redis errors, and,
// when tracing, which store served a Check.
func sessionHooks(reg prometheus.Registerer, tracer *telemetry.Tracer) storeHooks {
	m := newLookupMetrics(reg)
	cached := m.latency.WithLabelValues("redis", "cache")
	h := storeHooks{
		wrap:     []storeWrapper{m.wrap},
		cacheHit: func(d time.Duration) { cached.Observe(d.Seconds()) },
	}
	if tracer != nil {
		h.wrap = append(h.wrap, telemetry.SessionSource)
	}
	return h
}

// stageTracer and checkTracer keep a nil *Tracer out of the interfaces: a
// typed nil would be a non-nil hook, and tracing off must cost nothing.
func stageTracer(t *telemetry.Tracer) authz.Tracer {
	if t == nil {
		return nil
	}
	return t
}

func checkTracer(t *telemetry.Tracer) authz.CheckTracer {
	if t == nil {
		return nil
	}
	return t
}

// traceMounts wraps the SP's handlers in spans (ACS, /token grants,
// login, logout: each request is one span named after its route) and adds
// /statusz.
func traceMounts(t *telemetry.Tracer, mounts map[string]http.Handler, status http.Handler) map[string]http.Handler {
	out := make(map[string]http.Handler, len(mounts)+1)
	for pattern, h := range mounts {
		out[pattern] = t.Handler(strings.TrimSuffix(pattern, "/"), spRoutes, h)
	}
	out["GET /statusz"] = status
	return out
}

// spRoutes are the SP's paths that name their own spans.
var spRoutes = []string{
	sp.ACSPath, sp.TokenPath, sp.RevokePath, sp.MetadataPath,
	sp.LoginPath, sp.LogoutPath, sp.WhoamiPath, sp.CLIAuthorizePath,
}

// flushTraces exports the spans still buffered at shutdown.
func flushTraces(t *telemetry.Tracer, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("tracing: could not export the last spans", "err", err)
	}
}
