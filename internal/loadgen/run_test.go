package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunStopsAtMaxRequests(t *testing.T) {
	var calls atomic.Int64
	call := func(context.Context, int, uint64) error {
		calls.Add(1)
		time.Sleep(100 * time.Microsecond)
		return nil
	}
	res, err := Run(context.Background(), call, RunConfig{Concurrency: 8, Duration: time.Minute, MaxRequests: 500})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 || calls.Load() != 500 || res.Latency.Count() != 500 || res.Errors != 0 {
		t.Errorf("Requests %d, calls %d, latencies %d, errors %d; want 500, 500, 500, 0",
			res.Requests, calls.Load(), res.Latency.Count(), res.Errors)
	}
	if res.Elapsed > 10*time.Second {
		t.Errorf("took %v; MaxRequests should have ended the run", res.Elapsed)
	}
	if p50 := res.Latency.Quantile(0.5); p50 < 100*time.Microsecond {
		t.Errorf("p50 %v is below the 100µs each call sleeps", p50)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	// The call blocks until its context ends: the one in flight at the
	// deadline must be dropped, not counted as a failure.
	call := func(ctx context.Context, _ int, seq uint64) error {
		if seq < 10 {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
	start := time.Now()
	res, err := Run(context.Background(), call, RunConfig{Concurrency: 2, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("run took %v, want about 50ms", took)
	}
	if res.Requests != 10 || res.Errors != 0 {
		t.Errorf("Requests %d, Errors %d; want 10, 0", res.Requests, res.Errors)
	}
	if res.RPS() <= 0 {
		t.Errorf("RPS %v", res.RPS())
	}
}

func TestRunCountsErrors(t *testing.T) {
	boom := errors.New("boom")
	call := func(_ context.Context, _ int, seq uint64) error {
		if seq%4 == 0 {
			return boom
		}
		return nil
	}
	res, err := Run(context.Background(), call, RunConfig{Concurrency: 1, Duration: time.Minute, MaxRequests: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || res.Errors != 25 || res.Latency.Count() != 75 || !errors.Is(res.FirstErr, boom) {
		t.Errorf("Requests %d, Errors %d, latencies %d, FirstErr %v; want 100, 25, 75, boom",
			res.Requests, res.Errors, res.Latency.Count(), res.FirstErr)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, func(context.Context, int, uint64) error { return nil }, RunConfig{Concurrency: 4, Duration: time.Minute})
	if err != nil || res.Requests != 0 {
		t.Errorf("Run on a cancelled context = %d requests, %v; want 0, nil", res.Requests, err)
	}
	if _, err := Run(context.Background(), nil, RunConfig{}); err == nil {
		t.Error("Run without a Duration should fail: it would never end")
	}
}
