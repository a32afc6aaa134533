package loadgen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/loadgen"
	"github.com/tfgate/tfgate/internal/redistest"
)

// smoke is a short measurement: enough to see every scenario's path work
// end to end over loopback gRPC, not to measure anything.
var smoke = loadgen.MeasureConfig{
	RunConfig: loadgen.RunConfig{Concurrency: 4, Duration: 200 * time.Millisecond},
	Warmup:    20 * time.Millisecond,
	Conns:     2,
}

func startScenario(tb testing.TB, name string, opts loadgen.Options) *loadgen.Server {
	tb.Helper()
	s, err := loadgen.Start(context.Background(), name, opts)
	if err != nil {
		tb.Fatalf("Start(%s): %v", name, err)
	}
	tb.Cleanup(s.Close)
	return s
}

// TestScenariosSmoke runs every scenario briefly and checks it made
// progress and got the expected answer every time (Measure checks the
// first answer in full, Run every answer's allow or deny).
func TestScenariosSmoke(t *testing.T) {
	want := map[string]string{
		loadgen.Noop: "allow", loadgen.DenyAnonymous: "deny 401", loadgen.AllowMemory: "allow",
		loadgen.AllowRedis: "allow", loadgen.AllowGRPCMemory: "allow", loadgen.AllowMemoryUncached: "allow",
		loadgen.AllowRedisCached: "allow", loadgen.AllowMemoryTraced1: "allow", loadgen.ManyUsers: "allow",
	}
	redisAddr := redistest.Start(t).Addr
	for _, name := range loadgen.Scenarios() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startScenario(t, name, loadgen.Options{RedisAddr: redisAddr, Variants: 8})
			if got := s.Expect.String(); got != want[name] {
				t.Errorf("expects %s, want %s", got, want[name])
			}
			res, err := loadgen.Measure(context.Background(), s, smoke)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.RPS() <= 0 || res.Latency.Quantile(0.5) <= 0 {
				t.Errorf("no progress: %d requests, %.0f req/s, p50 %v", res.Requests, res.RPS(), res.Latency.Quantile(0.5))
			}
			if res.Errors != 0 {
				t.Errorf("%d of %d requests failed, e.g. %v", res.Errors, res.Requests, res.FirstErr)
			}
		})
	}
}

// TestMeasureRefusesWrongOutcome sends an allow scenario's server requests
// that are denied: Measure must stop before measuring anything.
func TestMeasureRefusesWrongOutcome(t *testing.T) {
	allow := startScenario(t, loadgen.AllowMemory, loadgen.Options{Variants: 1})
	deny := startScenario(t, loadgen.DenyAnonymous, loadgen.Options{Variants: 1})
	allow.Requests = deny.Requests
	_, err := loadgen.Measure(context.Background(), allow, smoke)
	if !errors.Is(err, loadgen.ErrWrongOutcome) {
		t.Errorf("Measure with anonymous requests on %s = %v, want ErrWrongOutcome", allow.Name, err)
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := loadgen.Start(ctx, "allow-everything", loadgen.Options{}); !errors.Is(err, loadgen.ErrUnknownScenario) {
		t.Errorf("unknown scenario: %v, want ErrUnknownScenario", err)
	}
	if _, err := loadgen.Start(ctx, loadgen.AllowRedis, loadgen.Options{}); !errors.Is(err, loadgen.ErrNeedRedis) {
		t.Errorf("allow-redis without an address: %v, want ErrNeedRedis", err)
	}
}
