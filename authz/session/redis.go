package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
)

// Defaults for RedisConfig.
const (
	defaultPrefix  = "tfgate:"
	defaultTimeout = 50 * time.Millisecond
)

// RedisConfig configures a Redis store.
type RedisConfig struct {
	// Prefix starts every key the store writes, so several deployments can
	// share one Redis. default: "tfgate:".
	Prefix string
	// Timeout bounds each call to Redis, on top of the caller's context. A
	// session lookup sits on every request's path, so a slow Redis must turn
	// into a prompt error rather than a queue. default: 50ms.
	Timeout time.Duration
	// Now returns the current time. default: time.Now.
	Now func() time.Time
}

// Redis is a SessionStore in Redis, standalone or Cluster: every operation
// touches a single key, so it works with any redis.UniversalClient. It is
// safe for concurrent use; closing the client is the caller's job.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	now     func() time.Time
}

// Interface guard.
var _ authz.SessionStore = (*Redis)(nil)

// NewRedis returns a store that uses client. For a *redis.Client,
// *redis.ClusterClient or *redis.Ring, it returns an error unless the client
// has ContextTimeoutEnabled set: without it go-redis ignores context
// deadlines on the socket, and Timeout would not bound a hung Redis.
func NewRedis(client redis.UniversalClient, cfg RedisConfig) (*Redis, error) {
	if client == nil {
		return nil, errors.New("session: NewRedis: nil client")
	}
	if !contextTimeoutEnabled(client) {
		return nil, errors.New("session: NewRedis: the redis client must set ContextTimeoutEnabled so that Timeout bounds each call")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("session: NewRedis: negative Timeout %v", cfg.Timeout)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Redis{client: client, prefix: cfg.Prefix, timeout: cfg.Timeout, now: cfg.Now}, nil
}

// contextTimeoutEnabled reports whether client honours context deadlines.
// Client types it does not know are given the benefit of the doubt.
func contextTimeoutEnabled(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// Create stores s under token until s.ExpiresAt, replacing any session the
// token already names. It returns ErrInvalidExpiry when s.ExpiresAt is zero
// or not after Now.
func (r *Redis) Create(ctx context.Context, token string, s authz.Session) error {
	if token == "" {
		return ErrEmptyKey
	}
	ttl, err := r.ttlUntil(s.ExpiresAt)
	if err != nil {
		return err
	}
	val, err := encodeSession(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Set(ctx, r.key(kindSession, token), val, ttl).Err(); err != nil {
		return fmt.Errorf("session: storing session %s: %w", ShortHash(token), err)
	}
	return nil
}

// Lookup returns the session token names. It returns ErrNotFound or
// ErrExpired, both wrapping authz.ErrNoSession, when there is no live one;
// ErrCorrupt when the stored value cannot be decoded; and a wrapped Redis or
// context error when Redis did not answer in time.
func (r *Redis) Lookup(ctx context.Context, token string) (authz.Session, error) {
	if token == "" {
		return authz.Session{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.client.Get(ctx, r.key(kindSession, token)).Bytes()
	if errors.Is(err, redis.Nil) {
		return authz.Session{}, ErrNotFound
	}
	if err != nil {
		return authz.Session{}, fmt.Errorf("session: looking up session %s: %w", ShortHash(token), err)
	}
	s, err := decodeSession(b)
	if err != nil {
		return authz.Session{}, fmt.Errorf("session: looking up session %s: %w", ShortHash(token), err)
	}
	if !r.now().Before(s.ExpiresAt) {
		return authz.Session{}, ErrExpired
	}
	return s, nil
}

// Delete removes the session token names. Deleting a missing session is not
// an error.
func (r *Redis) Delete(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Del(ctx, r.key(kindSession, token)).Err(); err != nil {
		return fmt.Errorf("session: deleting session %s: %w", ShortHash(token), err)
	}
	return nil
}

// Remember records id (an AuthnRequest ID) for ttl, for one later Consume.
func (r *Redis) Remember(ctx context.Context, id string, ttl time.Duration) error {
	if id == "" {
		return ErrEmptyKey
	}
	if ttl <= 0 {
		return ErrInvalidExpiry
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if err := r.client.Set(ctx, r.key(kindRequest, id), "1", atLeastMillisecond(ttl)).Err(); err != nil {
		return fmt.Errorf("session: remembering request ID: %w", err)
	}
	return nil
}

// Consume reports whether id was remembered and has not expired, and forgets
// it. It uses GETDEL, so of any number of concurrent calls, across replicas,
// at most one returns true.
func (r *Redis) Consume(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, ErrEmptyKey
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	err := r.client.GetDel(ctx, r.key(kindRequest, id)).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("session: consuming request ID: %w", err)
	}
	return true, nil
}

// SeenBefore records id (an assertion ID) in the replay cache until until,
// and reports whether it was already there. It uses SET NX, so of any number
// of concurrent calls with one id, across replicas, exactly one returns
// false. It returns ErrInvalidExpiry when until is not after Now; pass the
// assertion's NotOnOrAfter plus any clock skew allowed, so an assertion is
// remembered as long as it could be accepted.
func (r *Redis) SeenBefore(ctx context.Context, id string, until time.Time) (bool, error) {
	if id == "" {
		return false, ErrEmptyKey
	}
	ttl, err := r.ttlUntil(until)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	set, err := r.client.SetNX(ctx, r.key(kindReplay, id), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("session: checking the replay cache: %w", err)
	}
	return !set, nil
}

func (r *Redis) key(k kind, raw string) string { return redisKey(r.prefix, k, raw) }

// ttlUntil turns an absolute expiry into a duration from Now. Redis gets a
// relative TTL (PX) rather than PXAT so that its clock does not matter.
func (r *Redis) ttlUntil(t time.Time) (time.Duration, error) {
	if t.IsZero() {
		return 0, ErrInvalidExpiry
	}
	ttl := t.Sub(r.now())
	if ttl <= 0 {
		return 0, ErrInvalidExpiry
	}
	return atLeastMillisecond(ttl), nil
}

// atLeastMillisecond rounds a positive TTL below Redis's 1ms resolution up,
// which go-redis would otherwise send as 0, an error.
func atLeastMillisecond(ttl time.Duration) time.Duration {
	return max(ttl, time.Millisecond)
}
