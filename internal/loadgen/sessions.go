package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
)

// AllowRedisCached is AllowRedis behind the in-process session cache that
// extauthz serve puts in front of Redis by default (sessions.redis.cache):
// after the first Check in each second, the session comes from memory.
// AllowRedis, without the cache, goes to Redis on every Check.
const AllowRedisCached = "allow-redis-cached"

// redisCachedStore is the store kind of AllowRedisCached.
const redisCachedStore storeKind = 100

// NeedsRedis reports whether a scenario needs Options.RedisAddr.
func NeedsRedis(name string) bool {
	sp, ok := lookup(name)
	return ok && (sp.store == redisStore || sp.store == redisCachedStore)
}

// benchRedisConfig is the Redis store as extauthz's default sessions block
// configures it, lifetimes included (so Lookup reads the idle deadline
// too), except for the time budget: extauthz's 50ms would fail the odd
// Check closed when client, servers and Redis share two busy CPUs, and the
// run measures latency, not the budget. Envoy's Check timeout bounds it.
func benchRedisConfig() session.RedisConfig {
	return session.RedisConfig{
		Prefix:   RedisPrefix,
		Timeout:  restTimeout,
		Lifetime: session.Lifetime{Max: 12 * time.Hour, Idle: time.Hour, MaxAuthAge: 12 * time.Hour},
	}
}

// cachedRedis is the Redis store behind the cache: lookups go through the
// cache, the session is created in Redis.
type cachedRedis struct {
	*session.Cached
	redis *session.Redis
}

func (c cachedRedis) Create(ctx context.Context, token string, s authz.Session) error {
	return c.redis.Create(ctx, token, s)
}

// cachedRedisStore returns the Redis store at addr behind a cache that
// listens for invalidations, once the cache's subscription is up (before
// that it caches nothing, and the run would measure Redis).
func (s *Server) cachedRedisStore(ctx context.Context, addr string) (cachedRedis, error) {
	r, err := s.redisStore(addr)
	if err != nil {
		return cachedRedis{}, err
	}
	c := session.NewCached(r, session.CacheConfig{TTL: time.Second, Invalidations: r})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(runCtx) }()
	// Runs before the client is closed: cleanup runs in reverse.
	s.cleanup = append(s.cleanup, func() { cancel(); <-done })
	if err := waitCaching(ctx, r, c); err != nil {
		return cachedRedis{}, err
	}
	return cachedRedis{Cached: c, redis: r}, nil
}

// waitCaching looks up a probe session until the cache keeps it.
func waitCaching(ctx context.Context, r *session.Redis, c *session.Cached) error {
	probe, err := authz.NewToken(nil)
	if err != nil {
		return err
	}
	if err := r.Create(ctx, probe, BenchSession()); err != nil {
		return fmt.Errorf("loadgen: creating a probe session: %w", err)
	}
	defer func() { _ = r.Delete(context.Background(), probe) }()
	deadline := time.Now().Add(5 * time.Second)
	for c.Len() == 0 {
		if time.Now().After(deadline) {
			return errors.New("loadgen: the session cache did not subscribe to invalidations within 5s")
		}
		if _, err := c.Lookup(ctx, probe); err != nil {
			return fmt.Errorf("loadgen: looking up a probe session: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
