package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/health"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/rego"
)

// serve wires every concrete part in dependency order and runs the
// listeners until SIGINT or SIGTERM, then stops gracefully.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	grpcLn, err := net.Listen("tcp", cfg.Listen.GRPC)
	if err != nil {
		return fmt.Errorf("listening for gRPC: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		grpcLn.Close()
		return fmt.Errorf("listening for HTTP: %w", err)
	}
	return serveOn(ctx, cfg, grpcLn, httpLn, stdout, stderr)
}

// serveOn is serve on listeners that are already bound (extauthz dev binds
// its loopback ports first). It closes them when it returns.
func serveOn(ctx context.Context, cfg Config, grpcLn, httpLn net.Listener, stdout, stderr io.Writer) error {
	defer grpcLn.Close()
	defer httpLn.Close()
	log := newLogger(cfg.Log, stderr)

	store, err := newSessionStore(cfg.Sessions, log)
	if err != nil {
		return err
	}
	defer store.Close()
	policy, err := rego.New(ctx, rego.Config{
		Dir: cfg.Policy.Dir, PollInterval: cfg.Policy.ReloadInterval,
		DecisionCacheEntries: cacheEntries(cfg.Policy.DecisionCacheEntries),
	})
	if err != nil {
		return fmt.Errorf("loading policy: %w", err)
	}
	decisions, err := openDecisionLog(cfg.DecisionLog.Path, stdout)
	if err != nil {
		return err
	}
	defer decisions.Close()
	exchange, err := cfg.WorkloadIdentity.exchanger(log)
	if err != nil {
		return fmt.Errorf("workload_identity.kubernetes: %w", err)
	}
	saml, err := newSAMLSP(ctx, cfg.SAML, cfg.Sessions.CookieName, store.Backend, exchange, log)
	if err != nil {
		return err
	}

	var (
		registry   = newRegistry()
		metrics    = envoy.NewMetrics(registry)
		authorizer = must(authz.New(authz.Config{
			Sessions: store.Sessions, Policy: policy, CookieName: cfg.Sessions.CookieName,
			Peers: cfg.WorkloadIdentity.peers(),
		}))
		checkSrv = must(envoy.NewServer(envoy.Config{
			Checker: authorizer, Log: log, Decisions: decisions.log, Metrics: metrics,
			LoginURL: cfg.SAML.LoginURL, MaxRecvMsgSize: cfg.Listen.MaxRequestBytes,
		}))
		healthSrv = health.NewServer()
		grpcSrv   = envoy.NewGRPCServer(checkSrv, healthSrv)
		httpSrv   = &http.Server{
			Handler: envoy.NewHTTPHandler(envoy.HTTPConfig{
				Ready:   store.Ready,
				Metrics: promhttp.HandlerFor(registry, promhttp.HandlerOpts{}),
				Mount:   saml.Mount(),
			}),
			ReadHeaderTimeout: 10 * time.Second,
		}
	)

	healthSrv.SetServingStatus("", store.ServingStatus())
	log.Info("extauthz started", "version", version, "grpc", grpcLn.Addr().String(), "http", httpLn.Addr().String(),
		"sessions", cfg.Sessions.Store, "policy", policyName(cfg.Policy.Dir), "policy_revision", policy.Revision())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return grpcSrv.Serve(grpcLn) })
	g.Go(func() error { return store.Run(gctx, healthSrv) })
	g.Go(func() error { return saml.Run(gctx) })
	g.Go(func() error {
		if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if cfg.Policy.Dir != "" && cfg.Policy.ReloadInterval > 0 {
		g.Go(func() error { return policy.Watch(gctx, log) })
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "grace", cfg.Listen.ShutdownTimeout.String())
		healthSrv.Shutdown()
		shutdown(grpcSrv.GracefulStop, grpcSrv.Stop, cfg.Listen.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Listen.ShutdownTimeout)
		defer cancel()
		return httpSrv.Shutdown(sctx)
	})
	if err := g.Wait(); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// shutdown runs graceful, and forced if graceful takes longer than grace.
func shutdown(graceful, forced func(), grace time.Duration) {
	done := make(chan struct{})
	go func() { graceful(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		forced()
		<-done
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		// Only reachable through a programming error in the wiring above.
		panic(err)
	}
	return v
}

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// cacheEntries maps the config's "0 disables" to rego's "negative disables".
func cacheEntries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func policyName(dir string) string {
	if dir == "" {
		return "embedded default"
	}
	return dir
}

type decisionSink struct {
	log *authz.DecisionLog
}

func (d decisionSink) Close() {
	if d.log != nil {
		d.log.Close()
	}
}

// openDecisionLog opens the configured audit trail: "-" is stdout, "off"
// none, anything else a file opened for appending.
func openDecisionLog(path string, stdout io.Writer) (decisionSink, error) {
	switch path {
	case "off":
		return decisionSink{}, nil
	case "-":
		return decisionSink{authz.NewDecisionLog(struct{ io.Writer }{stdout})}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return decisionSink{}, fmt.Errorf("opening decision log: %w", err)
	}
	return decisionSink{authz.NewDecisionLog(f)}, nil
}
