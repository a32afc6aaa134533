package main

import (
	"context"
	"errors"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/rego"
)

const (
	// budget is the Redis time budget of one Check in the outage tests.
	budget = 50 * time.Millisecond
	// slack is what a Check may take beyond the budget: the policy, the
	// scheduler of a busy 2-CPU machine under -race.
	slack = 150 * time.Millisecond
	// workers is how many Checks run at once.
	workers = 8
)

// outcome is one Check during a load phase.
type outcome struct {
	at      time.Time // when it started
	elapsed time.Duration
	allow   bool
	err     error
}

// load runs Checks of token from workers goroutines until stop is closed
// and returns every outcome.
func load(a *authz.Authorizer, token func() string, stop <-chan struct{}) []outcome {
	var (
		mu  sync.Mutex
		out []outcome
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				d, err := a.Check(context.Background(), checkRequest(token()))
				o := outcome{at: start, elapsed: time.Since(start), err: err, allow: err == nil && d.Allow}
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	return out
}

// TestOutageFailsClosedUnderLoad stops (and, separately, hangs) Redis while
// Checks run through the real Authorizer and the embedded Rego policy,
// wired from a config file as serve wires them. During the outage every
// Check must fail closed ("could not decide", which Envoy denies) within
// the budget, except a cached session within the cache's TTL of the
// outage's start; readiness must turn NOT_SERVING; when Redis returns,
// Checks succeed again without restarting anything; and no goroutine is
// left behind. It does not run in parallel, so that the goroutine count is
// its own.
func TestOutageFailsClosedUnderLoad(t *testing.T) {
	outages := map[string]struct {
		begin, end func(*redistest.Server)
		dataLost   bool
	}{
		"stopped": {(*redistest.Server).Stop, (*redistest.Server).Restart, true},
		"hung":    {(*redistest.Server).Pause, (*redistest.Server).Resume, false},
	}
	for _, name := range []string{"stopped", "hung"} {
		o := outages[name]
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t)
			before := runtime.NumGoroutine()
			testOutage(t, srv, o.begin, o.end, o.dataLost)
			waitFor(t, 5*time.Second, "goroutines to wind down", func() bool {
				return runtime.NumGoroutine() <= before+2
			})
			t.Logf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		})
	}
}

func testOutage(t *testing.T, srv *redistest.Server, begin, end func(*redistest.Server), dataLost bool) {
	_, cfg := writeRedisConfig(t, "    addrs: [\""+srv.Addr+"\"]\n    timeout: 50ms\n", "")
	store, err := newSessionStore(cfg.Sessions, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	policy, err := rego.New(context.Background(), rego.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := authz.New(authz.Config{Sessions: store.Sessions, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	hs := health.NewServer()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); _ = store.Run(ctx, hs) }()
	defer func() { cancel(); <-runDone }()

	var tokMu sync.Mutex
	tok := signIn(t, cfg, "alice@example.com", time.Hour, "ml-engineers")
	current := func() string { tokMu.Lock(); defer tokMu.Unlock(); return tok }

	phase := func(d time.Duration, during func()) []outcome {
		stop := make(chan struct{})
		res := make(chan []outcome)
		go func() { res <- load(a, current, stop) }()
		if during != nil {
			during()
		}
		time.Sleep(d)
		close(stop)
		return <-res
	}

	// Before: every Check allows.
	for _, o := range phase(300*time.Millisecond, nil) {
		if o.err != nil || !o.allow {
			t.Fatalf("before the outage: allow %v, err %v", o.allow, o.err)
		}
	}

	// During: fail closed within the budget, or a cached allow within TTL.
	var outageStart time.Time
	during := phase(2500*time.Millisecond, func() {
		outageStart = time.Now()
		begin(srv)
	})
	checkOutage(t, during, outageStart, cfg.Sessions.Redis.Cache.TTL)
	waitFor(t, 5*time.Second, "readiness to turn NOT_SERVING", func() bool {
		return store.Ready(context.Background()) != nil && servingStatus(hs) == healthpb.HealthCheckResponse_NOT_SERVING
	})

	// After: Redis is back; the same process recovers by itself.
	end(srv)
	if dataLost { // no persistence: sign in again, as the user would
		tokMu.Lock()
		tok = signIn(t, cfg, "alice@example.com", time.Hour, "ml-engineers")
		tokMu.Unlock()
	}
	recovered := time.Now()
	waitFor(t, 10*time.Second, "Checks to succeed again", func() bool {
		d, err := a.Check(context.Background(), checkRequest(current()))
		return err == nil && d.Allow
	})
	t.Logf("Checks succeed again %v after Redis came back", time.Since(recovered))
	waitFor(t, 5*time.Second, "readiness to turn SERVING", func() bool {
		return store.Ready(context.Background()) == nil && servingStatus(hs) == healthpb.HealthCheckResponse_SERVING
	})
	for _, o := range phase(300*time.Millisecond, nil) {
		if o.err != nil || !o.allow {
			t.Fatalf("after recovery: allow %v, err %v", o.allow, o.err)
		}
	}
}

// checkOutage asserts the fail-closed contract on every Check that started
// after the outage began.
func checkOutage(t *testing.T, outcomes []outcome, start time.Time, cacheTTL time.Duration) {
	t.Helper()
	var failed, cached int
	var elapsed []time.Duration
	for _, o := range outcomes {
		if o.at.Before(start) {
			continue
		}
		switch {
		case o.err != nil:
			failed++
			elapsed = append(elapsed, o.elapsed)
			if errors.Is(o.err, authz.ErrNoSession) {
				t.Errorf("a Check during the outage said no session (%v) instead of could not decide", o.err)
			}
			if o.elapsed > budget+slack {
				t.Errorf("a failing Check took %v; budget %v + slack %v", o.elapsed, budget, slack)
			}
		case o.allow:
			cached++
			if o.at.Sub(start) > cacheTTL+slack {
				t.Errorf("allowed %v into the outage, beyond the cache TTL %v: %v", o.at.Sub(start), cacheTTL, o.err)
			}
		default:
			t.Errorf("a Check during the outage was denied as a decision; want could not decide")
		}
	}
	if failed == 0 {
		t.Fatal("no Check failed during the outage")
	}
	sort.Slice(elapsed, func(i, j int) bool { return elapsed[i] < elapsed[j] })
	t.Logf("during the outage: %d Checks failed closed (p50 %v, p99 %v, max %v), %d allowed from the cache within its TTL",
		failed, elapsed[len(elapsed)/2], elapsed[len(elapsed)*99/100], elapsed[len(elapsed)-1], cached)
}

func servingStatus(hs *health.Server) healthpb.HealthCheckResponse_ServingStatus {
	resp, err := hs.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN
	}
	return resp.GetStatus()
}

// TestRedisUnreachableAtStart: a server whose Redis is down when it starts
// is not ready, fails every Check closed, and becomes ready by itself once
// Redis answers.
func TestRedisUnreachableAtStart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	srv.Stop()
	_, cfg := writeRedisConfig(t, "    addrs: [\""+srv.Addr+"\"]\n    timeout: 1s\n", "")
	r := startReplica(t, cfg)
	if r.store.Ready(context.Background()) == nil {
		t.Error("ready with Redis down")
	}
	_, err := r.authz.Check(context.Background(), checkRequest("tfg_whatever"))
	if err == nil || errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Check with Redis down: %v; want could not decide", err)
	}
	srv.Restart()
	waitFor(t, 5*time.Second, "readiness", func() bool { return r.store.Ready(context.Background()) == nil })
	tok := signIn(t, cfg, "alice@example.com", time.Hour, "ml-engineers")
	if !r.allowed(t, tok) {
		t.Error("not allowed after Redis came up")
	}
}

// TestMemoryStoreLifetime: the lifetime settings apply to the memory store
// too.
func TestMemoryStoreLifetime(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Sessions.MaxLifetime = time.Minute
	s, err := newSessionStore(cfg.Sessions, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	m := s.Sessions.(*session.Memory)
	now := time.Now()
	if err := m.Create(context.Background(), "tfg_m", authz.Session{Subject: "a", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Lookup(context.Background(), "tfg_m")
	if err != nil || got.ExpiresAt.After(now.Add(time.Minute+time.Second)) {
		t.Errorf("Lookup = %v, %v; want ExpiresAt capped at a minute", got.ExpiresAt, err)
	}
	if s.Ready(context.Background()) != nil || s.ServingStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Error("a memory store is always ready")
	}
}
