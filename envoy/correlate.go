package envoy

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/tfserving"
)

// traceRef is the trace a Check belongs to, when tracing is on.
type traceRef struct {
	id      string
	sampled bool
}

// exemplar is the trace id to attach to the latency sample: only sampled
// traces, since an exemplar should lead to a trace that exists.
func (t traceRef) exemplar() string {
	if t.sampled {
		return t.id
	}
	return ""
}

// orHeaders is the trace id, or with tracing off the one the request's
// headers carry, so the logs of tfgate and Envoy can be joined either way.
func (t traceRef) orHeaders(h http.Header) string {
	if t.id != "" {
		return t.id
	}
	return headerTraceID(h)
}

// headerTraceID reads the trace id of W3C traceparent
// ("00-<32 hex>-<16 hex>-<2 hex>"), else of B3 (x-b3-traceid, or the first
// field of a single "b3" header). It returns "" for anything malformed: the
// value is logged, so it must be plain lowercase hex.
func headerTraceID(h http.Header) string {
	if tp := h.Get("Traceparent"); len(tp) >= 55 && tp[2] == '-' {
		if id := tp[3:35]; isHex(id) {
			return id
		}
	}
	if id := h.Get("X-B3-Traceid"); id != "" {
		if (len(id) == 32 || len(id) == 16) && isHex(id) {
			return id
		}
		return ""
	}
	if b3 := h.Get("B3"); b3 != "" {
		id, _, _ := strings.Cut(b3, "-")
		if (len(id) == 32 || len(id) == 16) && isHex(id) {
			return id
		}
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// newErrorID identifies a could-not-decide answer in the decision log and
// the server log, which have no Decision to take an id from.
func newErrorID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// record writes the decision log line, with Envoy's x-request-id and the
// trace id for correlation, and hands the same record to the shadow policy.
func (s *Server) record(start time.Time, r *authz.Request, d *authz.Decision, err error, errID string, latency time.Duration, trace traceRef) {
	if s.cfg.Decisions == nil && s.cfg.Shadow == nil {
		return
	}
	if s.cfg.Decisions != nil && s.cfg.SkipBrowserNoise && isBrowserNoise(r, d) {
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.quiet.Inc()
		}
		return
	}
	rec := authz.NewDecisionRecord(start, r, d, err, latency)
	if err != nil {
		rec.DecisionID = errID
	}
	rec.RequestID = r.Header.Get("X-Request-Id")
	rec.TraceID = trace.orHeaders(r.Header)
	if s.cfg.Decisions != nil {
		s.cfg.Decisions.Record(rec)
	}
	if s.cfg.Shadow != nil {
		s.cfg.Shadow.Observe(rec)
	}
}

// isBrowserNoise reports a denied GET or HEAD that is not a TF Serving API
// call (a browser fetching /favicon.ico or /robots.txt from the model
// server's host). Allowed requests and could-not-decide answers are never
// noise.
func isBrowserNoise(r *authz.Request, d *authz.Decision) bool {
	if d == nil || d.Allow || r.GRPC || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	for _, t := range d.Targets {
		if t.API != tfserving.Unknown {
			return false
		}
	}
	return len(d.Targets) > 0
}
