package tfservingstandin

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// shutdownGrace bounds how long Serve waits for in-flight requests.
const shutdownGrace = 5 * time.Second

// Server is the TF Serving stand-in. Its embedded Recorder holds every
// request that reached either API.
type Server struct {
	Recorder

	models map[string]*Model

	mu       sync.Mutex
	restAddr string
	grpcAddr string
}

// New validates cfg and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	models, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Server{models: models}, nil
}

// Start serves DefaultConfig on two fresh 127.0.0.1 ports until the test
// ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartConfig(tb, DefaultConfig())
}

// StartConfig is Start with a custom Config.
func StartConfig(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	restLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.setAddr(&s.restAddr, restLn) // before Start returns, not when Serve runs
	s.setAddr(&s.grpcAddr, grpcLn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, restLn, grpcLn) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("tfservingstandin: %v", err)
		}
	})
	return s
}

// RESTAddr is the REST listener's address ("" before Serve).
func (s *Server) RESTAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restAddr
}

// GRPCAddr is the gRPC listener's address ("" before Serve).
func (s *Server) GRPCAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grpcAddr
}

// RESTURL is "http://" + RESTAddr.
func (s *Server) RESTURL() *url.URL {
	return &url.URL{Scheme: "http", Host: s.RESTAddr()}
}

// GRPCURL is "http://" + GRPCAddr, the form an HTTP/2 proxy route wants.
func (s *Server) GRPCURL() *url.URL {
	return &url.URL{Scheme: "http", Host: s.GRPCAddr()}
}

// Serve serves REST on restLn (HTTP/1.1, like TF Serving's libevent server)
// and gRPC on grpcLn (h2c with prior knowledge) until ctx is done, then
// shuts both down gracefully. Either listener may be nil. It returns the
// first serving error, or nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, restLn, grpcLn net.Listener) error {
	hs := &http.Server{Handler: s.RESTHandler(), ReadHeaderTimeout: 10 * time.Second}
	gs := s.NewGRPCServer()
	errc := make(chan error, 2)
	running := 0
	if restLn != nil {
		s.setAddr(&s.restAddr, restLn)
		running++
		go func() { errc <- ignoreClosed(hs.Serve(restLn)) }()
	}
	if grpcLn != nil {
		s.setAddr(&s.grpcAddr, grpcLn)
		running++
		go func() { errc <- ignoreClosed(gs.Serve(grpcLn)) }()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		running--
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = hs.Shutdown(sctx)
	stopGRPC(sctx, gs)
	for ; running > 0; running-- {
		if err := <-errc; first == nil {
			first = err
		}
	}
	return first
}

// NewGRPCServer returns a grpc.Server that answers every TF Serving method
// with raw protobuf. Callers that run their own listener use it directly.
func (s *Server) NewGRPCServer() *grpc.Server {
	return grpc.NewServer(
		grpc.ForceServerCodecV2(tfpb.Codec{}),
		grpc.UnknownServiceHandler(s.handleGRPC),
		grpc.MaxRecvMsgSize(math.MaxInt32), // as TF Serving
	)
}

// setAddr stores ln's address in *dst.
func (s *Server) setAddr(dst *string, ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*dst = ln.Addr().String()
}

// stopGRPC stops gs gracefully, forcing it when ctx expires.
func stopGRPC(ctx context.Context, gs *grpc.Server) {
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		gs.Stop()
		<-done
	}
}

// ignoreClosed maps the normal shutdown errors to nil. grpc.Server.Serve
// reports ErrServerStopped when the stop won the race with Serve.
func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}
