package envoy_test

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/internal/loadgen"
)

// BenchmarkCheckInProcess measures Server.Check called directly, without
// gRPC: the whole decision as extauthz serve wires it (the embedded Rego
// policy, the in-memory session store, metrics and a decision log written
// to io.Discard), on the CheckRequests cmd/tfgate-bench sends over
// loopback gRPC. The difference between the two is transport.
// unsampled adds the trace context of an unsampled Envoy span to req.
func unsampled(req *authv3.CheckRequest) *authv3.CheckRequest {
	req.GetAttributes().GetRequest().GetHttp().GetHeaders()["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	return req
}

// newMemoryCheckServer returns the server extauthz serve wires (embedded
// policy, memory store, metrics, decision log to io.Discard), the store,
// and the token of a signed-in bench user. The server closes with tb.
func newMemoryCheckServer(tb testing.TB) (*envoy.Server, *session.Memory, string) {
	tb.Helper()
	ctx := context.Background()
	store := session.NewMemory(session.MemoryConfig{})
	token, err := authz.NewToken(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.Create(ctx, token, loadgen.BenchSession()); err != nil {
		tb.Fatal(err)
	}
	srv, closeSrv, err := loadgen.NewCheckServer(ctx, store, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(closeSrv)
	return srv, store, token
}

// namedRequest is a CheckRequest and the name its results are shown under.
type namedRequest struct {
	name string
	req  *authv3.CheckRequest
}

// allowedRequests are the REST and gRPC predict calls of the signed-in
// bench user holding token, as tfgate-bench sends them.
func allowedRequests(token string) []namedRequest {
	return []namedRequest{
		{"allow-memory", loadgen.RESTPredict(token, 0)},
		{"grpc-predict", loadgen.GRPCPredict(token, loadgen.PredictBody(), 0)},
	}
}

func BenchmarkCheckInProcess(b *testing.B) {
	ctx := context.Background()
	srv, store, token := newMemoryCheckServer(b)
	// The same server with tracing on: 1% of new traces sampled, as
	// tfgate-bench's allow-memory-traced-1pct.
	traced, closeTraced, err := loadgen.NewTracedCheckServer(ctx, store, 0.01)
	if err != nil {
		b.Fatal(err)
	}
	defer closeTraced()

	cases := []struct {
		name  string
		req   *authv3.CheckRequest
		allow bool
		srv   *envoy.Server
	}{
		{"allow-memory", loadgen.RESTPredict(token, 0), true, srv},
		{"deny-anonymous", loadgen.RESTPredict("", 0), false, srv},
		{"grpc-predict", loadgen.GRPCPredict(token, loadgen.PredictBody(), 0), true, srv},
		{"allow-memory-traced-1pct", loadgen.RESTPredict(token, 0), true, traced},
		// Envoy traced the request and decided not to sample it: tfgate
		// extracts the context and follows the decision.
		{"allow-memory-traced-envoy-unsampled", unsampled(loadgen.RESTPredict(token, 0)), true, traced},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tc.srv.Check(ctx, tc.req)
				if err != nil {
					b.Fatal(err)
				}
				if allowed := resp.GetStatus().GetCode() == int32(codes.OK); allowed != tc.allow {
					b.Fatalf("allowed = %v, want %v: %v", allowed, tc.allow, resp.GetStatus())
				}
			}
		})
	}
}

// BenchmarkCheckEncoded is BenchmarkCheckInProcess plus decoding the
// CheckRequest's bytes and encoding the answer, as the gRPC server does:
// "wire" is the path gRPC takes (the request read straight into an
// authz.Request, an allowed answer written straight to bytes), "message"
// decodes and builds the protobuf messages, as every Check did before.
func BenchmarkCheckEncoded(b *testing.B) {
	ctx := context.Background()
	srv, _, token := newMemoryCheckServer(b)
	for _, tc := range allowedRequests(token) {
		for _, path := range []struct {
			name string
			wire bool
		}{{"message", false}, {"wire", true}} {
			req, err := proto.Marshal(tc.req)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(tc.name+"/"+path.name, func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					var err error
					if n, err = envoy.CheckEncoded(srv, ctx, req, path.wire); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n), "resp-bytes")
			})
		}
	}
}
