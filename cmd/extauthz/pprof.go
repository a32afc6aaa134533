package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// DebugConfig holds what only an operator profiling the server needs.
type DebugConfig struct {
	// PprofListen is a loopback host:port serving Go's profiler
	// (/debug/pprof/, e.g. `go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10`).
	// Only loopback addresses are accepted: profiles show request data in
	// memory. Default: "" (off).
	PprofListen string `yaml:"pprof_listen"`
}

// validate checks that a pprof listener, if any, is on loopback.
func (d DebugConfig) validate(bad func(path, format string, args ...any)) {
	if d.PprofListen == "" {
		return
	}
	host, _, err := net.SplitHostPort(d.PprofListen)
	if err != nil {
		bad("debug.pprof_listen", "%q is not host:port (e.g. \"127.0.0.1:6060\")", d.PprofListen)
		return
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		bad("debug.pprof_listen", "%q is not a loopback address (use 127.0.0.1 or [::1]): profiles expose memory contents", d.PprofListen)
	}
}

// pprofHandler serves net/http/pprof on its own mux, never on
// http.DefaultServeMux, so nothing else can expose it by accident.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves the profiler on addr until ctx is done. With addr ""
// it returns at once.
func servePprof(ctx context.Context, addr string, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for pprof (debug.pprof_listen): %w", err)
	}
	srv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("pprof listening", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
