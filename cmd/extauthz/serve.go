package main

import (
	"context"
	"crypto/tls"
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/telemetry"
)

// serve wires every concrete part in dependency order and runs the
// listeners until SIGINT or SIGTERM, then stops gracefully.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	grpcLn, err := net.Listen("tcp", cfg.Listen.GRPC)
	if err != nil {
		return bindError("gRPC", "listen.grpc", err)
	}
	httpLn, err := net.Listen("tcp", cfg.Listen.HTTP)
	if err != nil {
		grpcLn.Close()
		return bindError("HTTP", "listen.http", err)
	}
	return serveOn(ctx, cfg, grpcLn, httpLn, stdout, stderr)
}

// bindError names the config field that sets the address, as dev's bind
// error names its flag, so a port already in use says what to change.
func bindError(what, field string, err error) error {
	return fmt.Errorf("listening for %s: %w (choose another address with the config field %s, e.g. \"127.0.0.1:0\" for any free port)", what, err, field)
}

// serveOn is serve on listeners that are already bound (extauthz dev binds
// its loopback ports first). It closes them when it returns.
func serveOn(ctx context.Context, cfg Config, grpcLn, httpLn net.Listener, stdout, stderr io.Writer) error {
	defer grpcLn.Close()
	defer httpLn.Close()
	log := newLogger(cfg.Log, stderr)
	adoptLogger(log)
	nofile, err := raiseNoFile()
	if err != nil {
		log.Warn("file descriptor limit", "error", err)
	}
	httpCap := cfg.Listen.Limits.httpConnCap(nofile)
	if httpCap < cfg.Listen.Limits.HTTPMaxConns {
		log.Warn("HTTP connections capped below listen.limits.http_max_conns by the file descriptor limit",
			"http_max_conns", httpCap, "nofile", nofile)
	}
	httpLn = newLimitListener(httpLn, httpCap)
	var grpcOpts []grpc.ServerOption
	var certs *tlsReloader
	if cfg.Listen.TLS.enabled() {
		if certs, err = newTLSReloader(cfg.Listen.TLS, log); err != nil {
			return err
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(certs.serverConfig("h2"))))
		httpLn = tls.NewListener(httpLn, certs.serverConfig("http/1.1"))
	}

	tracer, err := telemetry.New(ctx, cfg.Tracing.telemetry())
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer flushTraces(tracer, log)
	registry := newRegistry()
	store, err := newSessionStore(cfg.Sessions, log, sessionHooks(registry, tracer))
	if err != nil {
		return err
	}
	defer store.Close()
	policy, err := newPolicy(ctx, cfg.Policy, log)
	if err != nil {
		return err
	}
	decisions, err := openDecisionLog(cfg.DecisionLog, stdout)
	if err != nil {
		return err
	}
	defer decisions.Close()
	exchange, err := cfg.WorkloadIdentity.exchanger(log)
	if err != nil {
		return fmt.Errorf("workload_identity.kubernetes: %w", err)
	}
	idps := newIdPState(tracer)
	saml, err := newSAMLSP(ctx, cfg.SAML, cfg.Sessions.CookieName, store.Backend,
		spPages{contact: cfg.Pages.Contact, grants: policyGrants(policy.Evaluator)}, exchange, log, idps)
	if err != nil {
		return err
	}
	obs := &observability{started: time.Now(), cfg: cfg, policy: policy, store: store, idps: idps, tracing: tracer != nil}
	obs.register(registry, saml)

	var (
		metrics    = envoy.NewMetrics(registry)
		authorizer = must(authz.New(authz.Config{
			Sessions: store.Sessions, Policy: newTimedPolicy(policy, registry), CookieName: cfg.Sessions.CookieName,
			Tracer: stageTracer(tracer), Peers: cfg.WorkloadIdentity.peers(),
		}))
		checkSrv = must(envoy.NewServer(envoy.Config{
			Checker: authorizer, Log: log, Decisions: decisions.log, Shadow: policy.observer(), Metrics: metrics, Tracer: checkTracer(tracer),
			SkipBrowserNoise: cfg.DecisionLog.SkipBrowserNoise,
			LoginURL:         cfg.SAML.LoginURL, MaxRecvMsgSize: cfg.Listen.MaxRequestBytes, Contact: cfg.Pages.Contact,
			Limits: cfg.Listen.Limits.envoyLimits(),
		}))
		healthSrv = health.NewServer()
		grpcSrv   = envoy.NewGRPCServer(checkSrv, healthSrv, grpcOpts...)
		httpSrv   = cfg.Listen.Limits.httpServer(envoy.NewHTTPHandler(envoy.HTTPConfig{
			Ready: store.Ready,
			// OpenMetrics when the scraper asks for it, with the
			// Check histogram's trace-id exemplars.
			Metrics: promhttp.HandlerFor(registry, promhttp.HandlerOpts{EnableOpenMetrics: true}),
			Mount:   traceMounts(tracer, saml.Mount(), obs.statusHandler(saml)),
		}), log)
	)

	registry.MustRegister(bundleCollector{policy})
	healthSrv.SetServingStatus("", store.ServingStatus())
	log.Info("extauthz started", "version", version, "grpc", grpcLn.Addr().String(), "http", httpLn.Addr().String(),
		"tls", cfg.Listen.TLS.enabled(), "mtls", cfg.Listen.TLS.ClientCAFile != "", "nofile", nofile, "http_max_conns", httpCap, "sessions", cfg.Sessions.Store, "tracing", tracer != nil, "policy", policyName(cfg.Policy), "policy_revision", policy.Revision(), "policy_engine", policy.Status().Engine)
	if st := policy.Status(); st.EngineNote != "" && st.EngineNote != "configured" {
		log.Warn("the policy runs on OPA's evaluator, not the compiled engine", "why", st.EngineNote)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return grpcSrv.Serve(grpcLn) })
	g.Go(func() error { return store.Run(gctx, healthSrv) })
	g.Go(func() error { return saml.Run(gctx) })
	if certs != nil {
		g.Go(func() error { return certs.Run(gctx) })
	}
	g.Go(func() error {
		if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error { return policy.run(gctx, log) })
	g.Go(func() error { return servePprof(gctx, cfg.Debug.PprofListen, log) })
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

func policyName(cfg PolicyConfig) string {
	switch {
	case cfg.Bundle.URL != "":
		return cfg.Bundle.URL
	case cfg.Dir == "":
		return "embedded default"
	}
	return cfg.Dir
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
// none, anything else a file opened for appending, hash-chained when
// decision_log.audit says so.
func openDecisionLog(cfg DecisionLogConfig, stdout io.Writer) (decisionSink, error) {
	path := cfg.Path
	if a := cfg.Audit; a.Chain || a.SigningKeyFile != "" {
		acfg := authz.AuditConfig{
			Path: path, CheckpointLines: a.CheckpointLines, CheckpointInterval: a.CheckpointInterval,
			RotateBytes: a.RotateBytes, RotateInterval: a.RotateInterval,
		}
		if a.SigningKeyFile != "" {
			k, err := readEd25519Private(a.SigningKeyFile)
			if err != nil {
				return decisionSink{}, fmt.Errorf("decision_log.audit.signing_key_file: %w", err)
			}
			acfg.SigningKey = k
		}
		w, err := authz.OpenAuditWriter(acfg)
		if err != nil {
			return decisionSink{}, err
		}
		return decisionSink{authz.NewDecisionLog(w)}, nil
	}
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
