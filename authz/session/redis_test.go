package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

func TestRedisStandalone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	runStoreSuite(t, redisHarness(srv.Client(), srv.Client()))
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 0)
	var masters []*redis.Client
	for _, m := range c.Masters() {
		masters = append(masters, m.Client())
	}
	runStoreSuite(t, redisHarness(c.Client(), masters...))
}

// testPrefixes makes each store's prefix unique, so parallel tests can share
// a server and still inspect only their own keys.
var testPrefixes atomic.Int64

// redisHarness returns a harness maker for stores on client whose backend is
// read from nodes (every master of a cluster).
func redisHarness(client redis.UniversalClient, nodes ...*redis.Client) func(t *testing.T) *harness {
	return func(t *testing.T) *harness {
		clock := newTestClock()
		prefix := fmt.Sprintf("tfgate-test:%d:", testPrefixes.Add(1))
		s, err := NewRedis(client, RedisConfig{Prefix: prefix, Timeout: time.Second, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return &harness{store: s, clock: clock, backend: func(tb testing.TB) []storedKey {
			return scanKeys(tb, prefix, nodes)
		}}
	}
}

// scanKeys returns every key under prefix on nodes, with value and PTTL.
func scanKeys(tb testing.TB, prefix string, nodes []*redis.Client) []storedKey {
	tb.Helper()
	ctx := context.Background()
	var keys []storedKey
	for _, node := range nodes {
		iter := node.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			v, err := node.Get(ctx, k).Result()
			if err != nil {
				tb.Fatalf("GET %s: %v", k, err)
			}
			ttl, err := node.PTTL(ctx, k).Result()
			if err != nil {
				tb.Fatalf("PTTL %s: %v", k, err)
			}
			keys = append(keys, storedKey{Key: k, Value: v, TTL: ttl})
		}
		if err := iter.Err(); err != nil {
			tb.Fatalf("SCAN: %v", err)
		}
	}
	return keys
}

// TestRedisKeys pins the key layout and TTLs that operators and other
// tools rely on (design.md: prefixed, SHA-256 of the token, always a TTL).
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := srv.Client()
	clock := newTestClock()
	s, err := NewRedis(c, RedisConfig{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := "tfg_example"
	if err := s.Create(ctx, tok, authz.Session{Subject: "a", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "req-1", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SeenBefore(ctx, "assertion-1", clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{
		"tfgate:s:" + Hash(tok):                time.Hour,
		"tfgate:req:" + Hash("req-1"):          5 * time.Minute,
		"tfgate:replay:" + Hash("assertion-1"): 10 * time.Minute,
	}
	got := scanKeys(t, "tfgate:", []*redis.Client{c})
	if len(got) != len(want) {
		t.Errorf("keys = %v, want %d keys", got, len(want))
	}
	for _, k := range got {
		ttl, ok := want[k.Key]
		if !ok {
			t.Errorf("unexpected key %s", k.Key)
			continue
		}
		if k.TTL <= ttl-5*time.Second || k.TTL > ttl {
			t.Errorf("PTTL %s = %v, want just under %v", k.Key, k.TTL, ttl)
		}
	}
}

func TestRedisCorruptValues(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := NewRedis(srv.Client(), RedisConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"not JSON":        "\x00garbage",
		"unknown version": `{"v":2,"s":{"sub":"a","expires_at":"2999-01-01T00:00:00Z"}}`,
		"no version":      `{"s":{"sub":"a","expires_at":"2999-01-01T00:00:00Z"}}`,
		"no expiry":       `{"v":1,"s":{"sub":"a"}}`,
		"bad time":        `{"v":1,"s":{"sub":"a","expires_at":"tomorrow"}}`,
	}
	ctx := context.Background()
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			tok := "tfg_" + name
			srv.Client().Set(ctx, "tfgate:s:"+Hash(tok), value, time.Minute)
			_, err := s.Lookup(ctx, tok)
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, authz.ErrNoSession) {
				t.Errorf("Lookup error = %v, want ErrCorrupt and not authz.ErrNoSession", err)
			}
		})
	}
}

// TestRedisOutage checks that a Redis that is down or hung is "could not
// decide" (an error that is not ErrNoSession), and is reported within about
// the store's Timeout.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	outages := map[string]func(*redistest.Server){
		"stopped": (*redistest.Server).Stop,
		"hung":    (*redistest.Server).Pause,
	}
	for name, outage := range outages {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			clock := newTestClock()
			s, err := NewRedis(srv.Client(), RedisConfig{Timeout: timeout, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			tok := "tfg_outage"
			if err := s.Create(ctx, tok, authz.Session{Subject: "a", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			outage(srv)
			ops := map[string]func() error{
				"Lookup": func() error { _, err := s.Lookup(ctx, tok); return err },
				"Create": func() error {
					return s.Create(ctx, tok, authz.Session{ExpiresAt: clock.Now().Add(time.Hour)})
				},
				"Delete":     func() error { return s.Delete(ctx, tok) },
				"Remember":   func() error { return s.Remember(ctx, "id", time.Minute) },
				"Consume":    func() error { _, err := s.Consume(ctx, "id"); return err },
				"SeenBefore": func() error { _, err := s.SeenBefore(ctx, "id", clock.Now().Add(time.Minute)); return err },
			}
			var slowest time.Duration
			for op, call := range ops {
				start := time.Now()
				err := call()
				elapsed := time.Since(start)
				slowest = max(slowest, elapsed)
				if err == nil || errors.Is(err, authz.ErrNoSession) {
					t.Errorf("%s during outage: error = %v, want an error that is not authz.ErrNoSession", op, err)
				}
				if elapsed > 4*timeout {
					t.Errorf("%s took %v during outage; Timeout is %v", op, elapsed, timeout)
				}
			}
			t.Logf("slowest call during the outage took %v (Timeout %v)", slowest, timeout)
		})
	}
}

func TestRedisCanceledContext(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := NewRedis(srv.Client(), RedisConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Lookup(ctx, "tfg_x")
	if !errors.Is(err, context.Canceled) || errors.Is(err, authz.ErrNoSession) {
		t.Errorf("Lookup with a canceled context: error = %v, want context.Canceled", err)
	}
}

func TestNewRedis(t *testing.T) {
	t.Parallel()
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { good.Close() })
	noCtx := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { noCtx.Close() })
	noCtxCluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { noCtxCluster.Close() })

	errs := map[string]struct {
		client redis.UniversalClient
		cfg    RedisConfig
	}{
		"nil client":                       {nil, RedisConfig{}},
		"client without context timeouts":  {noCtx, RedisConfig{}},
		"cluster without context timeouts": {noCtxCluster, RedisConfig{}},
		"negative timeout":                 {good, RedisConfig{Timeout: -time.Second}},
	}
	for name, tc := range errs {
		if _, err := NewRedis(tc.client, tc.cfg); err == nil {
			t.Errorf("%s: NewRedis succeeded, want an error", name)
		}
	}
	s, err := NewRedis(good, RedisConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if s.prefix != defaultPrefix || s.timeout != defaultTimeout || s.now == nil {
		t.Errorf("defaults = %q, %v, now set %v", s.prefix, s.timeout, s.now != nil)
	}
}
