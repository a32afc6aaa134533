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

// Checker decides on a request; *authz.Authorizer implements it. Check
// must not keep r, its Header or anything in it after it returns: the
// server reuses them for the next Check (strings may be kept; they are
// never overwritten).
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
	// Tracer, when set, traces each Check, continuing the trace Envoy
	// propagated; default: none, at no cost.
	Tracer authz.CheckTracer
	// SkipBrowserNoise leaves out of the decision log the denied browser
	// requests that are not TF Serving API calls (GET /favicon.ico); they
	// are still counted. default: false, every decision is logged.
	SkipBrowserNoise bool
	// LoginURL is where anonymous browser navigations are redirected;
	// default: "/saml/login".
	LoginURL string
	// HomeURL and LogoutURL are the account page and the sign-out page the
	// deny page of a browser navigation links to; default: "/saml/" and
	// "/saml/logout".
	HomeURL, LogoutURL string
	// Contact is the line saying whom to ask, at the foot of the deny
	// page; default: none.
	Contact string
	// MaxRecvMsgSize bounds a CheckRequest; it must exceed Envoy's
	// max_request_bytes for gRPC bodies. Default: 80 MiB.
	MaxRecvMsgSize int
	// Limits bound the Checks decided at once, the queue in front of them,
	// the CheckRequest bytes held at once and the gRPC transport.
	Limits Limits
	// Now is the clock; default: time.Now.
	Now func() time.Time
}

// Server implements envoy.service.auth.v3.Authorization.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	cfg         Config
	resp        responder
	admission   *admission
	overloadLog overloadLog
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
	if cfg.HomeURL == "" {
		cfg.HomeURL = "/saml/"
	}
	if cfg.LogoutURL == "" {
		cfg.LogoutURL = "/saml/logout"
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if int64(cfg.MaxRecvMsgSize) > cfg.Limits.MaxInFlightBytes {
		return nil, errors.New("envoy: MaxRecvMsgSize exceeds Limits.MaxInFlightBytes: such a request could never be decided")
	}
	return &Server{cfg: cfg, resp: responder{loginURL: cfg.LoginURL, realm: "tfgate",
		homeURL: cfg.HomeURL, logoutURL: cfg.LogoutURL, contact: cfg.Contact}, admission: newAdmission(cfg.Limits)}, nil
}

// Check answers Envoy. A decision (allow or deny) is an OK RPC; a failure
// to decide is a gRPC error, which Envoy with failure_mode_allow: false
// turns into a deny.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r := NewRequest(req)
	d, err := s.decide(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.resp.respond(r, d), nil
}

// checkWire is Check as the gRPC server runs it, on a request read from
// the wire (decode.go): an allowed Check's response goes out already
// encoded (wire.go), a denial as the message.
func (s *Server) checkWire(ctx context.Context, r *authz.Request) (any, error) {
	d, err := s.decide(ctx, r)
	if err != nil {
		return nil, err
	}
	if d.Allow {
		if data, ok := encodeOK(d); ok {
			return &encodedResponse{data: data}, nil
		}
	}
	return s.resp.respond(r, d), nil
}

// decide is a Check up to its answer: the decision, recorded, counted and
// traced, or errCouldNotDecide.
func (s *Server) decide(ctx context.Context, r *authz.Request) (*authz.Decision, error) {
	s.cfg.Metrics.begin()
	defer s.cfg.Metrics.end()
	start := s.cfg.Now()
	var span authz.CheckSpan
	if s.cfg.Tracer != nil {
		ctx, span = s.cfg.Tracer.StartCheck(ctx, r)
	}
	d, err := s.cfg.Checker.Check(ctx, r)
	latency := s.cfg.Now().Sub(start)
	var trace traceRef
	if span != nil {
		span.End(d, err)
		trace.id, trace.sampled = span.TraceID()
	}
	errID := ""
	if err != nil {
		errID = newErrorID()
	}
	s.record(start, r, d, err, errID, latency, trace)
	s.cfg.Metrics.observe(d, err, latency, trace.exemplar())
	if err != nil {
		s.cfg.Log.ErrorContext(ctx, "could not decide", "error", err, "decision_id", errID,
			"request_id", r.Header.Get("X-Request-Id"), "trace_id", trace.orHeaders(r.Header),
			"method", r.Method, "grpc", r.GRPC)
		return nil, errCouldNotDecide
	}
	return d, nil
}

// NewGRPCServer returns a gRPC server with the Authorization service, the
// standard health service (reporting through hs) and reflection, under the
// server's Limits (see limits.go); opts come after them and so win.
func NewGRPCServer(s *Server, hs *health.Server, opts ...grpc.ServerOption) *grpc.Server {
	opts = append(serverOptions(s.cfg), opts...)
	g := grpc.NewServer(opts...)
	g.RegisterService(serviceDesc(), s)
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)
	return g
}
