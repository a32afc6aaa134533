package envoy

import (
	"context"
	"errors"
	"log/slog"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/tfgate/tfgate/authz"
)

// Checker decides on a request; *authz.Authorizer implements it.
type Checker interface {
	Check(ctx context.Context, r *authz.Request) (*authz.Decision, error)
}

// Config configures the ext_authz server.
type Config struct {
	// Checker decides. Required.
	Checker Checker
	// Log receives one line per could-not-decide error; default: discard.
	Log *slog.Logger
	// Decisions, when set, receives one record per Check.
	Decisions *authz.DecisionLog
	// Shadow, when set, receives the same record (for a candidate policy
	// evaluated off the critical path). It must not block.
	Shadow interface{ Observe(authz.DecisionRecord) }
	// Metrics, when set, counts decisions and their latency.
	Metrics *Metrics
	// LoginURL is where anonymous browser navigations are redirected;
	// default: "/saml/login".
	LoginURL string
	// MaxRecvMsgSize bounds a CheckRequest; it must exceed Envoy's
	// max_request_bytes for gRPC bodies. Default: 80 MiB.
	MaxRecvMsgSize int
	// Now is the clock; default: time.Now.
	Now func() time.Time
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	cfg  Config
	resp responder
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// NewServer returns a Server with cfg's defaults filled in.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Checker == nil {
		return nil, errors.New("envoy: Config needs a Checker")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.LoginURL == "" {
		cfg.LoginURL = "/saml/login"
	}
	if cfg.MaxRecvMsgSize == 0 {
		cfg.MaxRecvMsgSize = 80 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, resp: responder{loginURL: cfg.LoginURL, realm: "tfgate"}}, nil
}

// Check answers Envoy. A decision (allow or deny) is an OK RPC; a failure
// to decide is a gRPC error, which Envoy with failure_mode_allow: false
// turns into a deny.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	start := s.cfg.Now()
	r := NewRequest(req)
	d, err := s.cfg.Checker.Check(ctx, r)
	latency := s.cfg.Now().Sub(start)
	if s.cfg.Decisions != nil || s.cfg.Shadow != nil {
		rec := authz.NewDecisionRecord(start, r, d, err, latency)
		if s.cfg.Decisions != nil {
			s.cfg.Decisions.Record(rec)
		}
		if s.cfg.Shadow != nil {
			s.cfg.Shadow.Observe(rec)
		}
	}
	s.cfg.Metrics.observe(d, err, latency)
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not decide", "error", err, "method", r.Method, "grpc", r.GRPC)
		return nil, errCouldNotDecide
	}
	return s.resp.respond(r, d), nil
}

// NewGRPCServer returns a gRPC server with the Authorization service, the
// standard health service (reporting through hs) and reflection.
func NewGRPCServer(s *Server, hs *health.Server, opts ...grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{grpc.MaxRecvMsgSize(s.cfg.MaxRecvMsgSize)}, opts...)
	g := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(g, s)
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)
	return g
}
