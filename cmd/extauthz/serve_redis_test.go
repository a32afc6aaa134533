package main

import (
	"net/http"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tfgate/tfgate/internal/redistest"
)

// TestServeWithRedis runs `extauthz serve` with sessions in Redis and
// checks that /readyz and gRPC health follow Redis: ready, NOT_SERVING
// while it is stopped, ready again when it returns, with no restart.
func TestServeWithRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	file, _ := writeRedisConfig(t, "    addrs: [\""+srv.Addr+"\"]\n", "")
	extra := "listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n  shutdown_timeout: 2s\ndecision_log:\n  path: \"off\"\n"
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr, stop := startServe(t, string(text)+extra)
	ctx := t.Context()

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)

	state := func() (int, healthpb.HealthCheckResponse_ServingStatus) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, h.GetStatus()
	}
	expect := func(what string, code int, status healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		waitFor(t, 5*time.Second, what, func() bool {
			c, s := state()
			return c == code && s == status
		})
	}
	expect("ready at start", http.StatusOK, healthpb.HealthCheckResponse_SERVING)
	srv.Stop()
	expect("not ready while Redis is stopped", http.StatusServiceUnavailable, healthpb.HealthCheckResponse_NOT_SERVING)
	srv.Restart()
	expect("ready again", http.StatusOK, healthpb.HealthCheckResponse_SERVING)

	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}
