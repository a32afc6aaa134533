package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const shortLimits = "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n  shutdown_timeout: 1s\n" +
	"  limits:\n    http_read_header_timeout: 1s\n    http_read_timeout: 1s\n    http_idle_timeout: 1s\n    http_max_header_bytes: 8192\n" +
	"decision_log:\n  path: off\n"

// closedWithin reports whether the server closes c within d (reading
// whatever it sends until then).
func closedWithin(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestHTTPCutsOffSlowAndIdleClients: a body sent a byte at a time and an
// idle keep-alive connection are both closed by the server once their
// timeout passes, and an oversized header block is refused. (Before, only
// ReadHeaderTimeout was set: both connections stayed open as long as the
// client liked, and 1 MiB of headers were read.)
func TestHTTPCutsOffSlowAndIdleClients(t *testing.T) {
	_, httpAddr, _ := startServe(t, shortLimits)

	t.Run("slow body", func(t *testing.T) {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			for ctx.Err() == nil {
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		if !closedWithin(t, c, 6*time.Second) {
			t.Fatal("a body trickling a byte every 200ms was still being read after 6s (read timeout 1s)")
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetReadDeadline(time.Now().Add(6 * time.Second))
		if _, err := br.ReadByte(); err == nil || (errors.As(err, new(net.Error)) && err.(net.Error).Timeout()) {
			t.Fatalf("idle keep-alive connection still open after 6s (idle timeout 1s): %v", err)
		}
	})
	t.Run("header block", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/healthz", nil)
		req.Header.Set("X-Pad", strings.Repeat("a", 64<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("64 KiB of headers with http_max_header_bytes 8192: %d, want 431", resp.StatusCode)
		}
	})
}

// TestServeSubprocess is not a test: TestHTTPFloodDoesNotBreakChecks runs
// the test binary again with TFGATE_SERVE_CONFIG set, under a small file
// descriptor limit, and this is the server it runs.
func TestServeSubprocess(t *testing.T) {
	cfg := os.Getenv("TFGATE_SERVE_CONFIG")
	if cfg == "" {
		t.Skip("only run as TestHTTPFloodDoesNotBreakChecks's server")
	}
	os.Exit(run(context.Background(), []string{"serve", "--config", cfg}, io.Discard, os.Stderr))
}

// TestHTTPFloodDoesNotBreakChecks runs extauthz serve with a descriptor
// limit of 256 (soft and hard), holds 400 connections to its HTTP listener
// that never finish their headers, and then makes Checks on a new gRPC
// connection: they must be answered. (Before, the HTTP listener accepted
// until accept4 failed with "too many open files", and then so did the
// gRPC listener: the new connection never completed and Checks failed.)
func TestHTTPFloodDoesNotBreakChecks(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal("needs sh for ulimit")
	}
	cfgFile := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfgFile, []byte("listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n  shutdown_timeout: 1s\ndecision_log:\n  path: off\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `ulimit -n 256 && exec "$0" "$@"`, os.Args[0], "-test.run=^TestServeSubprocess$")
	cmd.Env = append(os.Environ(), "TFGATE_SERVE_CONFIG="+cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	grpcAddr, httpAddr := startedAddrs(t, stderr)

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 400 {
		c, err := net.DialTimeout("tcp", httpAddr, time.Second)
		if err != nil {
			break // the accept queue is full: that is a flood too
		}
		fmt.Fprintf(c, "POST /saml/acs HTTP/1.1\r\nHost: x\r\n") // never finished
		flood = append(flood, c)
	}
	if len(flood) < 300 {
		t.Fatalf("only %d flood connections", len(flood))
	}
	time.Sleep(200 * time.Millisecond) // let the server accept what it will

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 20 {
		cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
		hc, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			ccancel()
			t.Fatalf("health %d during the HTTP flood: %v %v", i, hc, err)
		}
		cr, err := authv3.NewAuthorizationClient(conn).Check(cctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/v1/models/half_plus_two", Headers: map[string]string{"accept": "application/json"},
			}},
		}})
		ccancel()
		if err != nil || codes.Code(cr.GetStatus().GetCode()) != codes.Unauthenticated {
			t.Fatalf("Check %d during the HTTP flood: %v %v", i, cr, err)
		}
	}
}

// startedAddrs reads a JSON server log until "extauthz started" and
// returns the gRPC and HTTP addresses.
func startedAddrs(t *testing.T, log io.Reader) (grpcAddr, httpAddr string) {
	t.Helper()
	lines := bufio.NewScanner(log)
	var seen []string
	for lines.Scan() {
		line := lines.Text()
		seen = append(seen, line)
		if strings.Contains(line, "extauthz started") {
			grpcAddr, httpAddr = jsonField(line, "grpc"), jsonField(line, "http")
			break
		}
	}
	go io.Copy(io.Discard, log)
	if grpcAddr == "" || httpAddr == "" {
		t.Fatalf("no start line in the log:\n%s", strings.Join(seen, "\n"))
	}
	return grpcAddr, httpAddr
}

func jsonField(line, key string) string {
	_, rest, ok := strings.Cut(line, `"`+key+`":"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
