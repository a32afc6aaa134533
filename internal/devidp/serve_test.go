package devidp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestListenAndServeLoopback(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		addr    string
		refused bool
	}{
		"all IPv4 interfaces": {addr: "0.0.0.0:0", refused: true},
		"all interfaces":      {addr: ":0", refused: true},
		"all IPv6 interfaces": {addr: "[::]:0", refused: true},
		"a hostname":          {addr: "example.com:0", refused: true},
		"private address":     {addr: "10.1.2.3:0", refused: true},
		"IPv4 loopback":       {addr: "127.0.0.1:0"},
		"IPv6 loopback":       {addr: "[::1]:0"},
		"localhost":           {addr: "localhost:0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idp := mustNew(t, testConfig(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- idp.ListenAndServe(ctx, tc.addr) }()
			if tc.refused {
				select {
				case err := <-done:
					if !errors.Is(err, ErrNotLoopback) {
						t.Fatalf("ListenAndServe(%q) = %v, want ErrNotLoopback", tc.addr, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("ListenAndServe(%q) is serving; want it refused", tc.addr)
				}
				return
			}
			waitServing(t, idp, done)
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ListenAndServe after cancel = %v, want nil", err)
			}
		})
	}
}

// waitServing waits until idp answers on the address Serve bound.
func waitServing(t *testing.T, idp *IdP, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("ListenAndServe returned early: %v", err)
		default:
		}
		if base := idp.BaseURL(); base != "" {
			resp, err := http.Get(base + MetadataPath)
			if err == nil {
				resp.Body.Close()
				mustEqual(t, "metadata status", resp.StatusCode, http.StatusOK)
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("IdP never answered")
}

// fakeListener reports a non-loopback address without binding one.
type fakeListener struct {
	addr   net.Addr
	closed bool
}

func (l *fakeListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (l *fakeListener) Close() error              { l.closed = true; return nil }
func (l *fakeListener) Addr() net.Addr            { return l.addr }

func TestServeRefusesNonLoopbackListener(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		addr    net.Addr
		refused bool
	}{
		"private IPv4": {addr: &net.TCPAddr{IP: net.IPv4(192, 168, 1, 2), Port: 8081}, refused: true},
		"unspecified":  {addr: &net.TCPAddr{IP: net.IPv4zero, Port: 8081}, refused: true},
		"UDP":          {addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, refused: true},
		"unix socket":  {addr: &net.UnixAddr{Name: "/tmp/x.sock", Net: "unix"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ln := &fakeListener{addr: tc.addr}
			cfg := testConfig(t)
			cfg.BaseURL = "http://127.0.0.1:8081"
			err := mustNew(t, cfg).Serve(context.Background(), ln)
			if got := errors.Is(err, ErrNotLoopback); got != tc.refused {
				t.Errorf("Serve() = %v, refused = %v, want %v", err, got, tc.refused)
			}
			if !ln.closed {
				t.Error("Serve did not close the listener")
			}
		})
	}
}

func TestAllowNonLoopbackSkipsCheck(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.AllowNonLoopback = true
	ln := &fakeListener{addr: &net.TCPAddr{IP: net.IPv4(192, 168, 1, 2), Port: 8081}}
	err := mustNew(t, cfg).Serve(context.Background(), ln)
	if errors.Is(err, ErrNotLoopback) {
		t.Errorf("Serve() = %v with AllowNonLoopback", err)
	}
}

// A connection that never sends a request (a client's spare keep-alive
// connection) does not fail the graceful stop: net/http waits 5-6 s on it,
// within shutdownTimeout.
func TestServeStopsWithAnUnusedConnection(t *testing.T) {
	t.Parallel()
	idp := mustNew(t, testConfig(t))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- idp.Serve(ctx, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Get("http://" + ln.Addr().String() + MetadataPath) // the server is up and accepting
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve with an unused connection open = %v, want nil", err)
		}
	case <-time.After(2 * shutdownTimeout):
		t.Fatal("Serve did not return")
	}
}
