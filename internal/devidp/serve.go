package devidp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

const (
	// shutdownTimeout bounds the graceful stop after ctx is done. It is
	// longer than the 5-6 s for which net/http's Shutdown waits on a
	// connection that has not sent a request yet: an HTTP client may dial
	// a spare connection it never uses, and that alone must not turn a
	// clean stop into a timeout.
	shutdownTimeout = 10 * time.Second
	// readHeaderTimeout stops idle half-open connections from piling up.
	readHeaderTimeout = 10 * time.Second
)

// ListenAndServe listens on addr and serves the IdP until ctx is done. Unless
// Config.AllowNonLoopback is set, addr's host must be a loopback IP or
// "localhost"; anything else ("0.0.0.0:8081", ":8081", a hostname) fails
// with ErrNotLoopback before a socket is opened.
func (idp *IdP) ListenAndServe(ctx context.Context, addr string) error {
	if !idp.cfg.AllowNonLoopback {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("devidp: listen address %q: %w", addr, err)
		}
		if !isLoopbackHost(host) {
			return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devidp: %w", err)
	}
	return idp.Serve(ctx, ln)
}

// Serve serves the IdP on ln until ctx is done, then shuts down gracefully
// and returns nil. Serve closes ln when it returns. Unless
// Config.AllowNonLoopback is set, ln must be bound to a loopback address
// (or be a Unix socket), or Serve fails with ErrNotLoopback. When
// Config.BaseURL is empty, the first Serve fixes it to "http://" + ln's
// address (for a Unix socket, set BaseURL).
func (idp *IdP) Serve(ctx context.Context, ln net.Listener) error {
	if !idp.cfg.AllowNonLoopback && !isLoopbackAddr(ln.Addr()) {
		ln.Close()
		return fmt.Errorf("%w: %s", ErrNotLoopback, ln.Addr())
	}
	if _, isTCP := ln.Addr().(*net.TCPAddr); !isTCP && idp.BaseURL() == "" {
		ln.Close()
		return fmt.Errorf("%w: BaseURL is required to serve on %s", ErrConfig, ln.Addr())
	}
	idp.bind("http://" + ln.Addr().String())
	srv := &http.Server{
		Handler:           idp,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(idp.cfg.Logger.Handler(), slog.LevelWarn),
	}
	idp.cfg.Logger.Info("devidp: serving", "addr", ln.Addr().String(), "entity_id", idp.EntityID())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// isLoopbackHost reports whether a listen address's host part names only
// loopback interfaces. An empty host means every interface.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopbackAddr reports whether a listener's address is loopback-only.
func isLoopbackAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	default:
		return false
	}
}
