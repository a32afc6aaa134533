package envoyemu

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// shutdownGrace bounds how long Serve waits for in-flight requests.
const shutdownGrace = 5 * time.Second

// NewServer returns an http.Server for h that accepts HTTP/1.1 and
// unencrypted HTTP/2 with prior knowledge (h2c) on the same listener, as
// an Envoy listener with codec_type AUTO does.
func NewServer(h http.Handler) *http.Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	return &http.Server{Handler: h, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
}

// Serve serves p on ln until ctx is done, then shuts down gracefully. It
// returns nil after a clean shutdown.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := NewServer(p)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		_ = srv.Close()
	}
	if err == nil {
		err = <-errc
	}
	p.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Start runs a Proxy for cfg on a fresh 127.0.0.1 port until the test
// ends and returns it with its address ("127.0.0.1:port").
func Start(tb testing.TB, cfg Config) (*Proxy, string) {
	tb.Helper()
	p, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("envoyemu: %v", err)
		}
	})
	return p, ln.Addr().String()
}
