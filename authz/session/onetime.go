package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The one-time values of the SAML SP in Redis: remembered AuthnRequest IDs
// and the assertion replay cache. Each is one key, so any Cluster slot will
// do, and each write waits for replicas like a session's.

// Remember records id (an AuthnRequest ID) for ttl, for one later Consume.
func (r *Redis) Remember(ctx context.Context, id string, ttl time.Duration) error {
	if id == "" {
		return ErrEmptyKey
	}
	if ttl <= 0 {
		return ErrInvalidExpiry
	}
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	key := redisKey(r.prefix, kindRequest, id)
	var set *redis.StatusCmd
	err := r.write(ctx, key, func(p redis.Pipeliner) { set = p.Set(ctx, key, "1", atLeastMillisecond(ttl)) })
	if err == nil {
		err = set.Err()
	}
	if err != nil {
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
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	key := redisKey(r.prefix, kindRequest, id)
	var get *redis.StringCmd
	err := r.write(ctx, key, func(p redis.Pipeliner) { get = p.GetDel(ctx, key) })
	if err == nil {
		err = get.Err()
	}
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
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	key := redisKey(r.prefix, kindReplay, id)
	var set *redis.BoolCmd
	err = r.write(ctx, key, func(p redis.Pipeliner) { set = p.SetNX(ctx, key, "1", ttl) })
	if err == nil {
		err = set.Err()
	}
	if err != nil {
		return false, fmt.Errorf("session: checking the replay cache: %w", err)
	}
	return !set.Val(), nil
}

// Forget removes id from the replay cache (a used refresh token's marker
// that its successor's rotation retires). A missing one is no error.
func (r *Redis) Forget(ctx context.Context, id string) error {
	if id == "" {
		return ErrEmptyKey
	}
	ctx, cancel := r.writeContext(ctx)
	defer cancel()
	key := redisKey(r.prefix, kindReplay, id)
	var del *redis.IntCmd
	err := r.write(ctx, key, func(p redis.Pipeliner) { del = p.Del(ctx, key) })
	if err == nil {
		err = del.Err()
	}
	if err != nil {
		return fmt.Errorf("session: forgetting a replay-cache ID: %w", err)
	}
	return nil
}
