package loadgen

import (
	"context"
	"fmt"
	"io"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/rego"
	"github.com/tfgate/tfgate/telemetry"
)

// maxRecvMsgSize is extauthz's default listen.max_request_bytes (80 MiB),
// which both servers use so the baseline takes the same gRPC path.
const maxRecvMsgSize = 80 << 20

// NewCheckServer returns tfgate's Check server wired as cmd/extauthz serve
// wires it, with store as the session store: the embedded default Rego
// policy, Prometheus metrics on a private registry and a decision log that
// encodes every record and writes it to io.Discard, so its cost is measured
// too. uncached turns the policy decision cache off. close releases the
// decision log.
func NewCheckServer(ctx context.Context, store authz.SessionStore, uncached bool) (srv *envoy.Server, close func(), err error) {
	srv, _, close, err = newCheckServer(ctx, store, uncached, nil)
	return srv, close, err
}

// newCheckServer is NewCheckServer, traced when tracer is set, that also
// returns the metrics registry.
func newCheckServer(ctx context.Context, store authz.SessionStore, uncached bool, tracer *telemetry.Tracer) (srv *envoy.Server, reg *prometheus.Registry, close func(), err error) {
	cfg := rego.Config{}
	if uncached {
		cfg.DecisionCacheEntries = -1
	}
	policy, err := rego.New(ctx, cfg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("loading the embedded policy: %w", err)
	}
	acfg, ecfg := authz.Config{Sessions: store, Policy: policy}, envoy.Config{}
	if tracer != nil {
		acfg.Tracer, ecfg.Tracer = tracer, tracer
	}
	authorizer, err := authz.New(acfg)
	if err != nil {
		return nil, nil, nil, err
	}
	decisions := authz.NewDecisionLog(io.Discard)
	reg = prometheus.NewRegistry()
	srv, err = envoy.NewServer(envoy.Config{
		Tracer:         ecfg.Tracer,
		Checker:        authorizer,
		Decisions:      decisions,
		Metrics:        envoy.NewMetrics(reg),
		MaxRecvMsgSize: maxRecvMsgSize,
	})
	if err != nil {
		decisions.Close()
		return nil, nil, nil, err
	}
	return srv, reg, func() { decisions.Close() }, nil
}

// newTFGateGRPC returns the gRPC server extauthz serves: Check, health and
// reflection.
func newTFGateGRPC(srv *envoy.Server) *grpc.Server {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	return envoy.NewGRPCServer(srv, hs)
}

// noopServer answers every Check with OK and nothing else: the cost of
// gRPC, protobuf and the load generator alone, which every scenario pays
// too.
type noopServer struct {
	authv3.UnimplementedAuthorizationServer
}

var okResponse = &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)}}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return okResponse, nil
}

// newNoopGRPC returns a gRPC server with only the no-op Check.
func newNoopGRPC() *grpc.Server {
	g := grpc.NewServer(grpc.MaxRecvMsgSize(maxRecvMsgSize))
	authv3.RegisterAuthorizationServer(g, noopServer{})
	return g
}
