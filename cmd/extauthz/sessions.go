package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
)

const (
	// pingInterval is how often the Redis store is pinged for readiness.
	pingInterval = time.Second
	// pingTimeout bounds one readiness ping. It is longer than the Check
	// budget so that one slow answer does not flap readiness; Checks fail
	// closed on their own budget meanwhile.
	pingTimeout = time.Second
)

// sessionBackend is what the SAML SP needs of a store; session.Memory and
// session.Redis both have it.
type sessionBackend interface {
	authz.SessionStore
	Create(ctx context.Context, token string, s authz.Session) error
	Delete(ctx context.Context, token string) error
	Remember(ctx context.Context, id string, ttl time.Duration) error
	Consume(ctx context.Context, id string) (bool, error)
	SeenBefore(ctx context.Context, id string, until time.Time) (bool, error)
	RevokeFamily(ctx context.Context, family string) (int, error)
	Discard(ctx context.Context, s authz.Session, refs ...string) error
	Forget(ctx context.Context, id string) error
	EndSAMLSessions(ctx context.Context, idp, nameID string, sessionIndexes []string) (int, error)
}

// storeWrapper decorates the session store named name.
type storeWrapper func(s authz.SessionStore, name string) authz.SessionStore

// storeHooks are what the server adds around the session store: metrics
// and tracing.
type storeHooks struct {
	// wrap, in order, wrap the store the Check path reaches behind the
	// local cache, named "memory" or "redis".
	wrap []storeWrapper
	// cacheHit, when set, hears how long each lookup the local cache
	// answered took.
	cacheHit func(time.Duration)
}

// errNotPinged is the readiness of a Redis store before its first ping.
var errNotPinged = errors.New("sessions: redis not pinged yet")

// sessionStore is the configured session store and what runs beside it:
// for Redis, the invalidation subscription of its cache and a readiness
// pinger.
type sessionStore struct {
	// Sessions is what the Check path looks sessions up in: the cache in
	// front of Redis, or the store itself.
	Sessions authz.SessionStore
	// Backend is the store itself, for the SAML SP: sign-in, sign-out,
	// AuthnRequest IDs and the replay cache. Its deletions reach every
	// replica's cache.
	Backend sessionBackend

	redis  *session.Redis // nil for the memory store
	cache  *session.Cached
	client redis.UniversalClient
	log    *slog.Logger

	mu  sync.Mutex
	err error // the last ping's result

	// topology is Redis's nodes and roles for /statusz, refreshed by Run.
	topology topologyWatch
}

// newSessionStore builds the configured store. For Redis it pings once, so
// that readiness is known before the listeners open; an unreachable Redis
// is not an error: the server starts not ready and recovers by itself.
//
// hooks (at most one) add metrics and tracing.
func newSessionStore(cfg SessionsConfig, log *slog.Logger, hooks ...storeHooks) (*sessionStore, error) {
	var h storeHooks
	if len(hooks) > 0 {
		h = hooks[0]
	}
	source := func(s authz.SessionStore, name string) authz.SessionStore {
		for _, w := range h.wrap {
			s = w(s, name)
		}
		return s
	}
	if cfg.Store != "redis" {
		m := session.NewMemory(session.MemoryConfig{MaxEntries: cfg.Memory.MaxEntries, Lifetime: lifetime(cfg)})
		return &sessionStore{Sessions: source(m, "memory"), Backend: m, log: log}, nil
	}
	// go-redis logs every failed dial to stderr; during an outage that is a
	// flood, and the pinger already reports the outage once.
	redis.SetLogger(redisLogger{log})
	r, client, err := newRedisStore(cfg)
	if err != nil {
		return nil, err
	}
	lookups := source(r, "redis")
	s := &sessionStore{Sessions: lookups, Backend: r, redis: r, client: client, log: log, err: errNotPinged}
	if cfg.Redis.Cache.TTL > 0 {
		s.cache = session.NewCached(lookups, session.CacheConfig{
			TTL: cfg.Redis.Cache.TTL, MaxEntries: cfg.Redis.Cache.MaxEntries, Invalidations: r,
			ObserveHit: h.cacheHit,
		})
		s.Sessions = s.cache
	}
	s.ping(context.Background(), nil)
	return s, nil
}

// Ready reports whether the store answers: always for memory, the last
// ping's result for Redis.
func (s *sessionStore) Ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// ServingStatus is Ready as a gRPC health status.
func (s *sessionStore) ServingStatus() healthpb.HealthCheckResponse_ServingStatus {
	if s.Ready(context.Background()) != nil {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return healthpb.HealthCheckResponse_SERVING
}

// Run keeps hs's overall status in step with Redis's reachability and
// listens for cache invalidations, until ctx is done. For memory it
// returns at once.
func (s *sessionStore) Run(ctx context.Context, hs *health.Server) error {
	if s.redis == nil {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	if s.cache != nil {
		g.Go(func() error { return s.cache.Run(ctx) })
	}
	g.Go(func() error { s.topology.run(ctx, s.client); return nil })
	g.Go(func() error {
		t := time.NewTicker(pingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				s.ping(ctx, hs)
			}
		}
	})
	return g.Wait()
}

// ping records whether Redis answers, logs changes and reports them to hs.
func (s *sessionStore) ping(ctx context.Context, hs *health.Server) {
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	err := s.redis.Ping(pctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the health server says so already
	}
	s.mu.Lock()
	was := s.err
	s.err = err
	s.mu.Unlock()
	switch {
	case err != nil && was == nil:
		s.log.Warn("redis unreachable: Checks of sessions not cached fail closed until it answers", "err", err)
	case err != nil && errors.Is(was, errNotPinged):
		s.log.Warn("redis unreachable at start: not ready until it answers", "err", err)
	case err == nil && was != nil:
		s.log.Info("redis reachable: ready")
	}
	if hs != nil {
		hs.SetServingStatus("", s.ServingStatus())
	}
}

// redisLogger sends go-redis's own log lines to the server log at debug
// level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

// Close releases the Redis client, if any.
func (s *sessionStore) Close() {
	if s.client != nil {
		_ = s.client.Close()
	}
}
