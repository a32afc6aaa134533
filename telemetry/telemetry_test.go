package telemetry_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/tfserving"
	"github.com/tfgate/tfgate/internal/otlptest"
	"github.com/tfgate/tfgate/telemetry"
)

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanID  = "00f067aa0ba902b7"
)

func ratio(r float64) *float64 { return &r }

// newTracer exports to rcv over protocol, sampling every new trace unless
// sample says otherwise.
func newTracer(t *testing.T, rcv *otlptest.Receiver, protocol string, sample float64) *telemetry.Tracer {
	t.Helper()
	tr, err := telemetry.New(context.Background(), telemetry.Config{
		Enabled: true, Protocol: protocol, Endpoint: rcv.URL, SampleRatio: ratio(sample), Version: "v-test",
	})
	if err != nil || tr == nil {
		t.Fatalf("New = %v, %v", tr, err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr
}

// check runs one traced Check the way Authorizer and envoy.Server do.
func check(t *testing.T, tr *telemetry.Tracer, ctx context.Context, h http.Header, d *authz.Decision, err error) string {
	t.Helper()
	ctx, span := tr.StartCheck(ctx, &authz.Request{Method: "POST", Path: "/v1/models/m:predict", Header: h})
	_, end := tr.StartStage(ctx, authz.StageParse)
	end.End(authz.StageResult{})
	sctx, end := tr.StartStage(ctx, authz.StageSession)
	_, _ = telemetry.SessionSource(fakeStore{}, "redis").Lookup(sctx, "tfg_secret_token")
	end.End(authz.StageResult{Found: true})
	_, end = tr.StartStage(ctx, authz.StagePolicy)
	end.End(authz.StageResult{Cached: true})
	span.End(d, err)
	id, sampled := span.TraceID()
	if !sampled {
		t.Fatalf("trace %s not sampled", id)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return id
}

type fakeStore struct{}

func (fakeStore) Lookup(context.Context, string) (authz.Session, error) {
	return authz.Session{Subject: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}}, nil
}

func allowed() *authz.Decision {
	return &authz.Decision{
		ID: "dec-1", Allow: true, Reason: "granted", PolicyRevision: "rev123",
		Subject: &authz.Subject{ID: "alice", Email: "alice@example.com", Groups: []string{"ml-engineers"}, Auth: authz.AuthBearer},
		Targets: []tfserving.Target{{API: tfserving.Predict, Model: "m", Version: 3, HasVersion: true}},
	}
}

func TestCheckSpanContinuesEnvoysTrace(t *testing.T) {
	for name, tc := range map[string]struct {
		header http.Header
		md     metadata.MD
		parent string
	}{
		"w3c traceparent": {header: http.Header{"Traceparent": {"00-" + traceID + "-" + spanID + "-01"}}, parent: spanID},
		"b3 single":       {header: http.Header{"B3": {traceID + "-" + spanID + "-1"}}, parent: spanID},
		"b3 multi": {header: http.Header{
			"X-B3-Traceid": {traceID}, "X-B3-Spanid": {spanID}, "X-B3-Sampled": {"1"},
		}, parent: spanID},
		// Envoy's ext_authz client puts its own span in the Check call's
		// metadata; that span is the direct parent.
		"grpc metadata over headers": {
			header: http.Header{"Traceparent": {"00-" + traceID + "-" + spanID + "-01"}},
			md:     metadata.Pairs("x-b3-traceid", traceID, "x-b3-spanid", "1111111111111111", "x-b3-parentspanid", spanID, "x-b3-sampled", "1"),
			parent: "1111111111111111",
		},
	} {
		t.Run(name, func(t *testing.T) {
			rcv := otlptest.Start(t)
			// Ratio 0: only a sampled parent gets this trace recorded.
			tr := newTracer(t, rcv, telemetry.ProtocolGRPC, 0)
			ctx := context.Background()
			if tc.md != nil {
				ctx = metadata.NewIncomingContext(ctx, tc.md)
			}
			if id := check(t, tr, ctx, tc.header, allowed(), nil); id != traceID {
				t.Fatalf("trace id %s, want Envoy's %s", id, traceID)
			}
			spans := rcv.Wait(t, traceID, 4, 5*time.Second)
			root := otlptest.Named(spans, "tfgate.Check")
			if root == nil || root.ParentSpanID != tc.parent {
				t.Fatalf("Check span %+v, want parent %s", root, tc.parent)
			}
			for _, name := range []string{"tfgate.parse_target", "tfgate.session_lookup", "tfgate.policy_evaluate"} {
				if s := otlptest.Named(spans, name); s == nil || s.ParentSpanID != root.SpanID {
					t.Errorf("%s = %+v, want a child of the Check span %s", name, s, root.SpanID)
				}
			}
		})
	}
}

func TestSpanAttributes(t *testing.T) {
	rcv := otlptest.Start(t)
	tr := newTracer(t, rcv, telemetry.ProtocolGRPC, 1)
	h := http.Header{"X-Request-Id": {"req-42"}, "Authorization": {"Bearer tfg_secret_token"}, "Cookie": {"__Host-tfgate=tfg_cookie_secret"}}
	id := check(t, tr, context.Background(), h, allowed(), nil)
	spans := rcv.Wait(t, id, 4, 5*time.Second)
	root := otlptest.Named(spans, "tfgate.Check")
	want := map[string]string{
		"tfgate.outcome": "allow", "tfgate.model": "m", "tfgate.version": "3", "tfgate.api": "predict",
		"tfgate.policy_revision": "rev123", "tfgate.decision_id": "dec-1", "tfgate.request_id": "req-42",
		"tfgate.auth": "bearer",
	}
	for k, v := range want {
		if root.Attrs[k] != v {
			t.Errorf("Check span %s = %q, want %q", k, root.Attrs[k], v)
		}
	}
	if s := otlptest.Named(spans, "tfgate.session_lookup"); s.Attrs["tfgate.session.source"] != "redis" || !strings.Contains(s.Attrs["tfgate.session.found"], "true") {
		t.Errorf("session span attrs %v, want source redis, found", s.Attrs)
	}
	if s := otlptest.Named(spans, "tfgate.policy_evaluate"); !strings.Contains(s.Attrs["tfgate.policy.cached"], "true") {
		t.Errorf("policy span attrs %v, want cached", s.Attrs)
	}
	for _, s := range spans {
		for k, v := range s.Attrs {
			for _, secret := range []string{"tfg_secret_token", "tfg_cookie_secret", "alice@example.com", "ml-engineers", "alice"} {
				if strings.Contains(v, secret) || strings.Contains(k, "email") || strings.Contains(k, "group") {
					t.Errorf("span %s attribute %s=%q carries personal data or a credential", s.Name, k, v)
				}
			}
		}
	}
	if res := rcv.Resource(); res["service.name"] != "tfgate" || res["service.version"] != "v-test" {
		t.Errorf("resource %v, want service tfgate v-test", res)
	}
}

func TestSpansOfDenyAndError(t *testing.T) {
	rcv := otlptest.StartHTTP(t)
	tr := newTracer(t, rcv, telemetry.ProtocolHTTP, 1)
	deny := &authz.Decision{ID: "d", Denial: authz.DenyForbidden, Reason: "no grant"}
	id := check(t, tr, context.Background(), http.Header{}, deny, nil)
	root := otlptest.Named(rcv.Wait(t, id, 4, 5*time.Second), "tfgate.Check")
	if root.Attrs["tfgate.outcome"] != "deny" || root.Attrs["tfgate.denial"] != "forbidden" || root.StatusError {
		t.Errorf("deny span %+v", root)
	}
	id = check(t, tr, context.Background(), http.Header{}, nil, errors.New("looking up session: redis: connection refused"))
	root = otlptest.Named(rcv.Wait(t, id, 4, 5*time.Second), "tfgate.Check")
	if root.Attrs["tfgate.outcome"] != "error" || !root.StatusError || !strings.Contains(root.StatusMessage, "redis") {
		t.Errorf("error span %+v", root)
	}
}

func TestUnsampledNewTraceIsNotExported(t *testing.T) {
	rcv := otlptest.Start(t)
	tr := newTracer(t, rcv, telemetry.ProtocolGRPC, 0)
	_, span := tr.StartCheck(context.Background(), &authz.Request{Header: http.Header{}})
	span.End(allowed(), nil)
	id, sampled := span.TraceID()
	if sampled || len(id) != 32 {
		t.Fatalf("TraceID = %q, %v; want an id, not sampled", id, sampled)
	}
	_ = tr.ForceFlush(context.Background())
	if n := len(rcv.Spans()); n != 0 {
		t.Errorf("%d spans exported at ratio 0 without a parent", n)
	}
}

func TestOffByDefault(t *testing.T) {
	tr, err := telemetry.New(context.Background(), telemetry.Config{})
	if tr != nil || err != nil {
		t.Fatalf("New(zero Config) = %v, %v; want nil, nil", tr, err)
	}
	t.Setenv("OTEL_SDK_DISABLED", "true")
	if tr, _ := telemetry.New(context.Background(), telemetry.Config{Enabled: true}); tr != nil {
		t.Error("OTEL_SDK_DISABLED=true did not turn tracing off")
	}
}

func TestEnvironmentConfigures(t *testing.T) {
	rcv := otlptest.StartHTTP(t)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "gate-7")
	tr, err := telemetry.New(context.Background(), telemetry.Config{Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	id := check(t, tr, context.Background(), http.Header{}, allowed(), nil)
	rcv.Wait(t, id, 4, 5*time.Second)
	if got := rcv.Resource()["service.name"]; got != "gate-7" {
		t.Errorf("service.name = %q, want OTEL_SERVICE_NAME's", got)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []telemetry.Config{
		{Enabled: true, Protocol: "thrift"},
		{Enabled: true, SampleRatio: ratio(2)},
		{Enabled: true, Endpoint: "collector:4317"},
	} {
		if _, err := telemetry.New(context.Background(), c); err == nil {
			t.Errorf("New(%+v) = nil error", c)
		}
	}
}

func TestHandlerSpan(t *testing.T) {
	rcv := otlptest.Start(t)
	tr := newTracer(t, rcv, telemetry.ProtocolGRPC, 1)
	h := tr.Handler("/saml", []string{"/saml/acs"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	req, _ := http.NewRequest("POST", "/saml/acs", strings.NewReader("SAMLResponse=PHNhbWw%2B"))
	req.Header.Set("Traceparent", "00-"+traceID+"-"+spanID+"-01")
	h.ServeHTTP(discard{http.Header{}}, req)
	_ = tr.ForceFlush(context.Background())
	s := rcv.Wait(t, traceID, 1, 5*time.Second)[0]
	if s.Name != "tfgate /saml/acs" || s.ParentSpanID != spanID || s.Attrs["http.response.status_code"] == "" {
		t.Errorf("span %+v", s)
	}
	for k, v := range s.Attrs {
		if strings.Contains(v, "PHNhbWw") {
			t.Errorf("attribute %s carries the SAMLResponse", k)
		}
	}
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
