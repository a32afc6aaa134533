package devidp

import (
	"context"
	"net"
)

// TB is the part of testing.TB that Start uses. It is declared here so that
// the extauthz binary, which links this package, does not link "testing".
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Start starts an IdP for a test on a free 127.0.0.1 port and stops it when
// the test ends. cfg.BaseURL, when empty, becomes the listener's URL.
func Start(tb TB, cfg Config) *IdP {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("devidp: listening: %v", err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	idp, err := New(cfg)
	if err != nil {
		ln.Close()
		tb.Fatalf("devidp: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- idp.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("devidp: serving: %v", err)
		}
	})
	return idp
}
