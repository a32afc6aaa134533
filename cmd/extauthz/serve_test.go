package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestServe runs the real command on loopback ports, as `make run` would
// with a config, and checks every listener answers; cancelling the context
// (SIGTERM's path) stops it cleanly.
func TestServe(t *testing.T) {
	grpcAddr, httpAddr, stop := startServe(t, "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n  shutdown_timeout: 2s\ndecision_log:\n  path: off\n")
	ctx := t.Context()

	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hc, err)
	}
	cr, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/v1/models/half_plus_two:predict", Headers: map[string]string{":path": "/v1/models/half_plus_two:predict"},
		}},
	}})
	if err != nil || codes.Code(cr.GetStatus().GetCode()) != codes.Unauthenticated || cr.GetDeniedResponse().GetStatus().GetCode() != 401 {
		t.Fatalf("anonymous Check: %v %v", cr, err)
	}

	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}

func TestRunUsage(t *testing.T) {
	tests := map[string]struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		"help":                 {[]string{"--help"}, 0, "Usage:", ""},
		"version":              {[]string{"version"}, 0, "extauthz ", ""},
		"unknown command":      {[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		"config no file":       {[]string{"config", "check"}, 2, "", "extauthz config check: missing FILE"},
		"eval no input":        {[]string{"policy", "eval"}, 2, "", "--input FILE is required"},
		"bad flag":             {[]string{"serve", "--nope"}, 2, "", "extauthz serve: unknown flag: --nope"},
		"missing config":       {[]string{"serve", "--config", "/nonexistent.yaml"}, 1, "", "reading config"},
		"dev off loopback":     {[]string{"dev", "--rest", "0.0.0.0:0"}, 1, "", "loopback addresses only"},
		"dev-idp off loopback": {[]string{"dev-idp", "--listen", "0.0.0.0:0"}, 1, "", "loopback"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(t.Context(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("run(%v) = %d\nstdout: %s\nstderr: %s", tc.args, code, out.String(), errOut.String())
			}
		})
	}
}

// startServe runs `extauthz serve` with the config text, reads its JSON log
// until the "extauthz started" line and returns the gRPC and HTTP addresses
// it listens on. stop cancels serve and returns its exit code, failing the
// test if it does not stop within 5s; it runs at cleanup if the test did not
// call it.
func startServe(t *testing.T, config string) (grpcAddr, httpAddr string, stop func() int) {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logR, logW := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfgFile}, io.Discard, logW); logW.Close() }()
	var once sync.Once
	var code int
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })

	var started struct{ GRPC, HTTP string }
	lines := bufio.NewScanner(logR)
	var seen []string
	for lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.Contains(lines.Text(), "extauthz started") {
			if err := json.Unmarshal(lines.Bytes(), &started); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	go io.Copy(io.Discard, logR)
	if started.GRPC == "" || started.HTTP == "" {
		t.Fatalf("no start line in the log:\n%s", strings.Join(seen, "\n"))
	}
	return started.GRPC, started.HTTP, stop
}

// TestServeBindErrorNamesField holds each listen address with another
// socket and checks serve's error names the config field to change, as
// dev's names its flag.
func TestServeBindErrorNamesField(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, field := range []string{"grpc", "http"} {
		t.Run(field, func(t *testing.T) {
			addrs := map[string]string{"grpc": "127.0.0.1:0", "http": "127.0.0.1:0"}
			addrs[field] = held.Addr().String()
			cfgFile := filepath.Join(t.TempDir(), "c.yaml")
			cfg := "listen:\n  grpc: " + addrs["grpc"] + "\n  http: " + addrs["http"] + "\ndecision_log:\n  path: off\n"
			if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errOut strings.Builder
			code := run(t.Context(), []string{"serve", "--config", cfgFile}, &out, &errOut)
			want := "address already in use (choose another address with the config field listen." + field
			if code != 1 || !strings.Contains(errOut.String(), want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant %q", code, errOut.String(), want)
			}
		})
	}
}
