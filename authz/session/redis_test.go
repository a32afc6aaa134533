package session

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
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
	var made harnesses
	mk := recordedHarness(&made, srv.Client(), srv.Client())
	t.Run("cases", func(t *testing.T) {
		runStoreSuite(t, mk)
		runRedisSuite(t, mk)
	})
	t.Run("dump", func(t *testing.T) { checkFullDump(t, made.tokens(), []*redis.Client{srv.Client()}) })
}

// TestRedisCluster runs every case on a cluster of three masters with a
// replica each, then fails over the master that holds a session.
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, 1)
	var nodes []*redis.Client
	for _, n := range c.Nodes {
		nodes = append(nodes, n.Client())
	}
	var made harnesses
	mk := recordedHarness(&made, c.Client(), nodes...)
	t.Run("cases", func(t *testing.T) {
		runStoreSuite(t, mk)
		runRedisSuite(t, mk)
	})
	t.Run("dump", func(t *testing.T) { checkFullDump(t, made.tokens(), nodes) })
	t.Run("failover", func(t *testing.T) {
		testFailover(t, c.Client(), func(key string) {
			master, err := c.Client().MasterForKey(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Nodes {
				if n.Addr == master.Options().Addr {
					t.Logf("killing master %s, which holds %s", n.Addr, key)
					n.Kill()
				}
			}
			c.WaitOK()
		})
	})
}

// TestRedisSentinel runs every case through a sentinel, then kills the
// master and checks that the replica it fails over to has every write.
func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, 1)
	var nodes []*redis.Client
	for _, n := range s.Nodes {
		nodes = append(nodes, n.Client())
	}
	var made harnesses
	mk := recordedHarness(&made, s.Client(), nodes[0])
	t.Run("cases", func(t *testing.T) {
		runStoreSuite(t, mk)
		runRedisSuite(t, mk)
	})
	t.Run("dump", func(t *testing.T) {
		// The replica's copy is part of the dump. WAIT counts its own
		// connection's writes (and all before them), so write on the same
		// connection first.
		ctx := context.Background()
		pipe := nodes[0].Pipeline()
		pipe.Set(ctx, "tfgate-test:sync", "1", time.Minute)
		wait := pipe.Do(ctx, "wait", 1, 5000)
		if _, err := pipe.Exec(ctx); err != nil || wait.Val() != int64(1) {
			t.Fatalf("WAIT = %v, %v", wait.Val(), err)
		}
		checkFullDump(t, made.tokens(), nodes)
	})
	t.Run("failover", func(t *testing.T) {
		testFailover(t, s.Client(), func(string) {
			old := s.Master()
			t.Logf("killing master %s", old.Addr)
			old.Kill()
			s.WaitFailover(old)
		})
	})
}

// testPrefixes makes each store's prefix unique, so parallel tests can share
// a server and still inspect only their own keys.
var testPrefixes atomic.Int64

func newTestPrefix() string { return fmt.Sprintf("tfgate-test:%d:", testPrefixes.Add(1)) }

// harnesses remembers every harness a maker made, so that a test can check
// a dump of the whole deployment against every token used on it.
type harnesses struct {
	mu   sync.Mutex
	made []*harness
}

func (hs *harnesses) tokens() []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var out []string
	for _, h := range hs.made {
		out = append(out, h.tokens...)
	}
	return out
}

// redisHarness returns a harness maker for stores on client whose backend is
// read from nodes (masters are enough; replicas are skipped). It records
// what it makes in made, when not nil.
func redisHarness(client redis.UniversalClient, nodes ...*redis.Client) func(t *testing.T) *harness {
	return recordedHarness(nil, client, nodes...)
}

func recordedHarness(made *harnesses, client redis.UniversalClient, nodes ...*redis.Client) func(t *testing.T) *harness {
	return func(t *testing.T) *harness {
		clock := newTestClock()
		prefix := newTestPrefix()
		open := func(l Lifetime) store {
			s, err := NewRedis(client, RedisConfig{Prefix: prefix, Timeout: time.Second, Lifetime: l, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		h := &harness{store: open(Lifetime{}), clock: clock, reopen: open, backend: func(tb testing.TB) []storedKey {
			return dumpKeys(tb, prefix, nodes)
		}}
		if made != nil {
			made.mu.Lock()
			made.made = append(made.made, h)
			made.mu.Unlock()
		}
		return h
	}
}

// TestRedisKeys pins the key layout and TTLs that operators and other
// tools rely on (design.md: prefixed, SHA-256 of the token, always a TTL;
// the session and its handle share a hash tag).
func TestRedisKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := srv.Client()
	clock := newTestClock()
	s, err := NewRedis(c, RedisConfig{Now: clock.Now, Lifetime: Lifetime{Idle: 30 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := "tfg_example"
	sess := authz.Session{Subject: "a", Groups: []string{"g1", "g1", "g2"}, ExpiresAt: clock.Now().Add(time.Hour)}
	if err := s.Create(ctx, tok, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Remember(ctx, "req-1", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SeenBefore(ctx, "assertion-1", clock.Now().Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	h := authz.SessionHandle(tok)
	want := map[string]time.Duration{
		"tfgate:s:{" + h + "}:" + Hash(tok):       30 * time.Minute, // the idle timeout
		"tfgate:h:{" + h + "}":                    time.Hour,
		"tfgate:m:{" + h + "}":                    30 * time.Minute, // the metadata record, with the session
		"tfgate:u:" + Hash("tfgate subject\x00a"): time.Hour,
		"tfgate:g:" + Hash("tfgate group\x00g1"):  time.Hour,
		"tfgate:g:" + Hash("tfgate group\x00g2"):  time.Hour,
		"tfgate:req:" + Hash("req-1"):             5 * time.Minute,
		"tfgate:replay:" + Hash("assertion-1"):    10 * time.Minute,
	}
	got := dumpKeys(t, "tfgate:", []*redis.Client{c})
	var names []string
	for _, k := range got {
		names = append(names, k.Key)
		ttl, ok := want[k.Key]
		if !ok {
			t.Errorf("unexpected key %s", k.Key)
			continue
		}
		if k.TTL <= ttl-5*time.Second || k.TTL > ttl {
			t.Errorf("PTTL %s = %v, want just under %v", k.Key, k.TTL, ttl)
		}
	}
	if len(got) != len(want) {
		sort.Strings(names)
		t.Errorf("keys = %v, want %d keys", names, len(want))
	}
	if v, _ := c.Get(ctx, "tfgate:h:{"+h+"}").Result(); v != Hash(tok) {
		t.Errorf("handle key holds %q, want the token hash", v)
	}
	if m, _ := c.ZRange(ctx, "tfgate:g:"+Hash("tfgate group\x00g1"), 0, -1).Result(); len(m) != 1 || m[0] != h+":"+Hash(tok) {
		t.Errorf("group index holds %q, want [handle:hash]", m)
	}
}

func TestRedisCorruptValues(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := NewRedis(srv.Client(), RedisConfig{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	other := "tfg_other"
	if err := s.Create(ctx, other, authz.Session{Subject: "b", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	otherValue, err := srv.Client().Get(ctx, sessionKey(defaultPrefix, refOf(other))).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	sealedFor := func(tok, plain string) string {
		b, err := seal(tok, Hash(tok), []byte(plain), strings.NewReader(strings.Repeat("n", nonceSize)))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	flipped := append([]byte{}, otherValue...)
	flipped[len(flipped)-1] ^= 1
	tests := map[string]func(tok string) string{
		"plain JSON":              func(string) string { return `{"v":1,"s":{"sub":"a","expires_at":"2999-01-01T00:00:00Z"}}` },
		"garbage":                 func(string) string { return "\x00garbage" },
		"unknown seal version":    func(string) string { return "\x02" + string(otherValue[1:]) },
		"truncated":               func(string) string { return string(otherValue[:5]) },
		"another session's value": func(string) string { return string(otherValue) },
		"tampered":                func(string) string { return string(flipped) },
		"sealed but not JSON":     func(tok string) string { return sealedFor(tok, "garbage") },
		"sealed, unknown version": func(tok string) string {
			return sealedFor(tok, `{"v":2,"s":{"sub":"a","expires_at":"2999-01-01T00:00:00Z"}}`)
		},
		"sealed, no expiry": func(tok string) string { return sealedFor(tok, `{"v":1,"s":{"sub":"a"}}`) },
		"sealed, bad time":  func(tok string) string { return sealedFor(tok, `{"v":1,"s":{"sub":"a","expires_at":"tomorrow"}}`) },
		"sealed for the wrong token": func(string) string {
			return sealedFor("tfg_someone-else", `{"v":1,"s":{"sub":"a","expires_at":"2999-01-01T00:00:00Z"}}`)
		},
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			tok := "tfg_" + name
			srv.Client().Set(ctx, sessionKey(defaultPrefix, refOf(tok)), value(tok), time.Minute)
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
			s, err := NewRedis(srv.Client(), RedisConfig{Timeout: timeout, UpdateTimeout: timeout, Now: clock.Now, Lifetime: Lifetime{Idle: time.Hour}})
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
				"Ping": func() error {
					ctx, cancel := context.WithTimeout(ctx, timeout)
					defer cancel()
					return s.Ping(ctx)
				},
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

// TestRedisLookupBudget checks the retry of a Lookup whose budget ran out
// (issue 8 item 6: a CPU-starved Check must not report a healthy Redis as
// failed). go-redis reports a spent budget in two ways: context.Deadline-
// Exceeded, and a net "i/o timeout" from the socket's read deadline. The
// second is what a pipelined command carries (the GET+PTTL of an idle
// timeout, the default), what go-redis returns when it does not retry
// itself (MaxRetries -1), and what a starved CPU sees when the socket's
// deadline fires before the context's timer has run. Both must be retried. A real redis-server is frozen with SIGSTOP:
//   - stalled: it thaws the moment the first attempt fails, so the retry
//     finds it answering and the Lookup succeeds;
//   - hung: it stays frozen, and the Lookup still fails closed after two
//     budgets, well inside Envoy's timeout.
func TestRedisLookupBudget(t *testing.T) {
	t.Parallel()
	const timeout = 50 * time.Millisecond
	clients := map[string]int{"go-redis retries": 0, "no go-redis retries": -1} // Options.MaxRetries
	for cname, maxRetries := range clients {
		for _, idle := range []time.Duration{0, time.Hour} { // GET, or GET+PTTL pipelined
			for _, hung := range []bool{false, true} {
				name := fmt.Sprintf("%s/idle=%v/hung=%v", cname, idle, hung)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					testLookupBudget(t, maxRetries, idle, hung, timeout)
				})
			}
		}
	}
}

func testLookupBudget(t *testing.T, maxRetries int, idle time.Duration, hung bool, timeout time.Duration) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: maxRetries})
	t.Cleanup(func() { client.Close() })
	clock := newTestClock()
	s, err := NewRedis(client, RedisConfig{Timeout: timeout, Now: clock.Now, Lifetime: Lifetime{Idle: idle}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := "tfg_budget"
	if err := s.Create(ctx, tok, authz.Session{Subject: "a", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	hook := &stallHook{thaw: func() {
		if !hung {
			srv.Resume()
		}
	}}
	client.AddHook(hook)
	srv.Pause()
	defer srv.Resume()
	start := time.Now()
	got, err := s.Lookup(ctx, tok)
	elapsed := time.Since(start)
	attempts, first := hook.result()
	t.Logf("%d lookups in %v; the first failed with %v; Lookup error %v", attempts, elapsed, first, err)
	if !timedOut(first) {
		t.Fatalf("first lookup error = %v, want a timeout", first)
	}
	if attempts != 2 {
		t.Errorf("%d lookups sent, want 2 (one retry after %q)", attempts, first)
	}
	if !hung {
		if err != nil || got.Subject != "a" {
			t.Errorf("Lookup after a transient stall = %+v, %v; want the session", got, err)
		}
		return
	}
	if err == nil || errors.Is(err, authz.ErrNoSession) || !timedOut(err) {
		t.Errorf("Lookup on a hung Redis: error = %v, want a timeout that is not authz.ErrNoSession", err)
	}
	if elapsed > 4*timeout {
		t.Errorf("Lookup on a hung Redis took %v; two budgets are %v", elapsed, 2*timeout)
	}
}

// stallHook counts the session reads (a GET, or a pipeline that starts with
// one) and calls thaw when the first one fails.
type stallHook struct {
	thaw     func()
	mu       sync.Mutex
	attempts int
	first    error
}

func (h *stallHook) done(err error) {
	h.mu.Lock()
	h.attempts++
	firstFailure := h.attempts == 1 && err != nil
	if h.attempts == 1 {
		h.first = err
	}
	h.mu.Unlock()
	if firstFailure {
		h.thaw()
	}
}

func (h *stallHook) result() (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attempts, h.first
}

func (h *stallHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *stallHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if cmd.Name() == "get" {
			h.done(err)
		}
		return err
	}
}

func (h *stallHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if len(cmds) > 0 && cmds[0].Name() == "get" {
			h.done(err)
		}
		return err
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
		"negative wait":                    {good, RedisConfig{WaitReplicas: -1}},
		"negative idle":                    {good, RedisConfig{Lifetime: Lifetime{Idle: -time.Second}}},
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
	if s.prefix != defaultPrefix || s.timeout != defaultTimeout || s.update != defaultUpdate || s.now == nil || s.rand == nil || s.life.TouchInterval != defaultTouchInterval {
		t.Errorf("defaults = %q, %v, now set %v, rand set %v, %+v", s.prefix, s.timeout, s.now != nil, s.rand != nil, s.life)
	}
	if s, _ := NewRedis(good, RedisConfig{Lifetime: Lifetime{Idle: time.Minute}}); s.life.TouchInterval != 30*time.Second {
		t.Errorf("TouchInterval = %v, want clamped to Idle/2", s.life.TouchInterval)
	}
}

// TestRedisWaitWithoutReplicas checks that a store told to wait for a
// replica that does not exist fails its writes with ErrNotReplicated within
// Timeout+WaitTimeout, rather than pretending they are safe.
func TestRedisWaitWithoutReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s, err := NewRedis(srv.Client(), RedisConfig{UpdateTimeout: 50 * time.Millisecond, WaitReplicas: 1, WaitTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Create(context.Background(), "tfg_w", authz.Session{Subject: "a", ExpiresAt: time.Now().Add(time.Hour)})
	if !errors.Is(err, ErrNotReplicated) {
		t.Errorf("Create = %v, want ErrNotReplicated", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond+20*time.Millisecond+waitSlack+50*time.Millisecond {
		t.Errorf("Create took %v", d)
	}
}

// TestRedisIdleWritesRarely checks the idle timeout's write rule: a session
// looked up a hundred times a second is written (PEXPIRE) about once per
// TouchInterval, not once per lookup, and stays alive past Idle.
func TestRedisIdleWritesRarely(t *testing.T) {
	t.Parallel()
	const idle, touch, run = time.Second, 250 * time.Millisecond, 2 * time.Second
	srv := redistest.Start(t)
	s, err := NewRedis(srv.Client(), RedisConfig{Timeout: time.Second, Lifetime: Lifetime{Idle: idle, TouchInterval: touch}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tok := "tfg_busy"
	if err := s.Create(ctx, tok, authz.Session{Subject: "a", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	lookups := 0
	for start := time.Now(); time.Since(start) < run; time.Sleep(10 * time.Millisecond) {
		if _, err := s.Lookup(ctx, tok); err != nil {
			t.Fatalf("Lookup %d: %v", lookups, err)
		}
		lookups++
	}
	stats, err := srv.Client().Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	for line := range strings.Lines(stats) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_pexpire:calls="); ok {
			n, _, _ := strings.Cut(rest, ",")
			fmt.Sscan(n, &writes)
		}
	}
	t.Logf("%d lookups in %v wrote the idle deadline %d times", lookups, run, writes)
	if max := int(run/touch) + 1; writes < 1 || writes > max {
		t.Errorf("PEXPIRE calls = %d, want between 1 and %d", writes, max)
	}
}
