package loadgen

import (
	"context"
	"fmt"
	"runtime"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// authority is the :authority Envoy's gRPC client sends to tfgate: the
// ext_authz cluster's name in envoy/envoy.yaml.
const authority = "extauthz_grpc"

// MeasureConfig configures Measure.
type MeasureConfig struct {
	RunConfig
	// Warmup is how long to drive the server before measuring, with the
	// same concurrency, to fill caches, pools and the heap. default: 0.
	Warmup time.Duration
	// Conns is how many gRPC connections the requests are spread over
	// (Envoy opens one per worker thread). default: 1.
	Conns int
}

// Measure dials s over loopback gRPC, checks the first answer on each
// connection in full
// (an unexpected one is an error wrapping ErrWrongOutcome: the run would
// measure the wrong code path), warms up, collects garbage, and runs.
func Measure(ctx context.Context, s *Server, cfg MeasureConfig) (Result, error) {
	clients, closeConns, err := dial(s.Addr, max(cfg.Conns, 1))
	if err != nil {
		return Result{}, err
	}
	defer closeConns()
	// Every connection answers once before the clock starts, so no
	// measured request pays for a TCP or HTTP/2 handshake.
	for _, c := range clients {
		if err := s.verifyFirst(ctx, c); err != nil {
			return Result{}, err
		}
	}
	call := s.caller(clients)
	if cfg.Warmup > 0 {
		warm := cfg.RunConfig
		warm.Duration = cfg.Warmup
		if _, err := Run(ctx, call, warm); err != nil {
			return Result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	// Garbage of the warm-up (or of the previous scenario) is not this
	// run's to collect.
	runtime.GC()
	cpu0, ok0 := processCPU()
	res, err := Run(ctx, call, cfg.RunConfig)
	if cpu1, ok1 := processCPU(); ok0 && ok1 {
		res.CPU = cpu1 - cpu0
	}
	return res, err
}

func (s *Server) verifyFirst(ctx context.Context, c authv3.AuthorizationClient) error {
	ctx, cancel := context.WithTimeout(ctx, max(s.Timeout, 5*time.Second))
	defer cancel()
	resp, err := c.Check(ctx, s.Requests[0])
	if err != nil {
		return fmt.Errorf("%s: first Check failed: %w", s.Name, err)
	}
	if err := s.Expect.Verify(resp); err != nil {
		return fmt.Errorf("%s: first Check: %w", s.Name, err)
	}
	return nil
}

// caller sends s.Requests in turn, worker w on connection w mod n, and
// checks that every answer allows or denies as expected.
func (s *Server) caller(clients []authv3.AuthorizationClient) Caller {
	reqs, expect, timeout := s.Requests, s.Expect, s.Timeout
	return func(ctx context.Context, w int, seq uint64) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		resp, err := clients[w%len(clients)].Check(ctx, reqs[seq%uint64(len(reqs))])
		if err != nil {
			return err
		}
		return expect.check(resp)
	}
}

// dial makes n plaintext gRPC clients of addr (a loopback address), each
// with its own connection, opened by its first Check.
func dial(addr string, n int) ([]authv3.AuthorizationClient, func(), error) {
	conns := make([]*grpc.ClientConn, 0, n)
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	clients := make([]authv3.AuthorizationClient, 0, n)
	for range n {
		c, err := grpc.NewClient(addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithAuthority(authority))
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("loadgen: dialing %s: %w", addr, err)
		}
		conns = append(conns, c)
		clients = append(clients, authv3.NewAuthorizationClient(c))
	}
	return clients, closeAll, nil
}
