// Package otlptest is a real OTLP trace receiver for tests: the
// collector's own TraceService gRPC service (from the OTLP protos) on a
// loopback port, keeping every span it is sent.
package otlptest

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Receiver collects exported spans.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer
	// Addr is host:port; URL is http://Addr, for an exporter's endpoint.
	Addr, URL string

	mu       sync.Mutex
	spans    []Span
	resource map[string]string
	changed  chan struct{}
}

// Span is one received span, with ids in hex and attributes as strings.
type Span struct {
	Name            string
	TraceID, SpanID string
	ParentSpanID    string
	Kind            tracepb.Span_SpanKind
	Attrs           map[string]string
	StatusError     bool
	StatusMessage   string
	Start, End      time.Time
}

// Start serves a Receiver until the test ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{Addr: ln.Addr().String(), changed: make(chan struct{}, 1), resource: map[string]string{}}
	r.URL = "http://" + r.Addr
	g := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(g, r)
	go func() { _ = g.Serve(ln) }()
	tb.Cleanup(g.Stop)
	return r
}

// Export implements the collector's TraceService.
func (r *Receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for k, v := range attrs(rs.GetResource().GetAttributes()) {
			r.resource[k] = v
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, Span{
					Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentSpanID: hex.EncodeToString(s.GetParentSpanId()), Kind: s.GetKind(), Attrs: attrs(s.GetAttributes()),
					StatusError:   s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
					StatusMessage: s.GetStatus().GetMessage(),
					Start:         time.Unix(0, int64(s.GetStartTimeUnixNano())),
					End:           time.Unix(0, int64(s.GetEndTimeUnixNano())),
				})
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

// Spans returns every span received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Resource returns the attributes of the resources received.
func (r *Receiver) Resource() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.resource))
	for k, v := range r.resource {
		out[k] = v
	}
	return out
}

// Wait returns the spans of trace id once it has at least n of them, or
// fails the test after timeout.
func (r *Receiver) Wait(tb testing.TB, traceID string, n int, timeout time.Duration) []Span {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		var got []Span
		for _, s := range r.Spans() {
			if s.TraceID == traceID {
				got = append(got, s)
			}
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			tb.Fatalf("trace %s: %d spans after %v, want %d: %+v", traceID, len(got), timeout, n, got)
		}
	}
}

// Named returns the first span called name, or nil.
func Named(spans []Span, name string) *Span {
	for i := range spans {
		if spans[i].Name == name {
			return &spans[i]
		}
	}
	return nil
}
