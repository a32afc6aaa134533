package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// Defaults for CacheConfig.
const (
	defaultCacheTTL        = time.Second
	defaultCacheMaxEntries = 10_000
	// cacheShards spreads the cache over locks; a power of two.
	cacheShards = 16
)

// CacheConfig configures a Cached store.
type CacheConfig struct {
	// TTL is how long a session found in the inner store is served from
	// memory. It bounds how stale an entry can be when an invalidation is
	// lost, so keep it at or below how quickly a revocation must take
	// effect. default: 1s.
	TTL time.Duration
	// MaxEntries bounds the cache; when full, expired entries go first,
	// then arbitrary ones. default: 10000.
	MaxEntries int
	// Invalidations, when set, drop entries as soon as any replica deletes
	// or replaces their session. While its subscription is down nothing
	// new is cached (what is cached still expires after TTL), and every
	// (re)subscription clears the cache, since messages may have been
	// missed. Nil: entries live for TTL regardless. default: nil.
	Invalidations Invalidator
	// Now returns the current time. default: time.Now.
	Now func() time.Time
	// ObserveHit, when set, hears how long each lookup answered from the
	// cache took (misses are the inner store's to time). default: nil,
	// and no clock is read for it.
	ObserveHit func(time.Duration)
}

// Cached is a bounded in-process cache in front of a SessionStore, for the
// Check path. Only sessions found are cached: ErrNoSession and errors always
// come from the inner store, so a miss or an outage can never become an
// allow, and a session lives in the cache no longer than TTL or its own
// ExpiresAt. Within TTL a cached session is served even when the inner store
// is unreachable.
//
// Run must be running for Invalidations to be heard; without it, a Cached
// with Invalidations caches nothing.
type Cached struct {
	inner authz.SessionStore
	ttl   time.Duration
	now   func() time.Time
	inv   Invalidator
	// perShard bounds each shard.
	perShard int
	shards   [cacheShards]cacheShard
	// epoch counts invalidations. A lookup stores what it fetched only if
	// no invalidation happened meanwhile: the session may have been
	// deleted after the fetch, and the message handled before the store.
	epoch atomic.Uint64
	// subscribed is whether invalidations are being heard (always true
	// without Invalidations).
	subscribed atomic.Bool
	// stats counts lookups, for metrics.
	hits, misses, evictions atomic.Uint64
	observeHit              func(time.Duration)
}

// CacheStats counts what a Cached did since it was made.
type CacheStats struct {
	// Hits were answered from memory; Misses asked the inner store.
	Hits, Misses uint64
	// Evictions dropped an entry to make room (not expiry or invalidation).
	Evictions uint64
	// Subscribed is whether invalidations are heard now.
	Subscribed bool
}

// Stats returns the cache's counters.
func (c *Cached) Stats() CacheStats {
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(),
		Subscribed: c.subscribed.Load(),
	}
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[digest]cacheEntry
}

type cacheEntry struct {
	s     authz.Session
	until time.Time
}

// Interface guards.
var (
	_ authz.SessionStore  = (*Cached)(nil)
	_ InvalidationWatcher = (*Cached)(nil)
)

// NewCached returns an empty cache in front of inner.
func NewCached(inner authz.SessionStore, cfg CacheConfig) *Cached {
	if cfg.TTL <= 0 {
		cfg.TTL = defaultCacheTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = defaultCacheMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cached{
		inner: inner, ttl: cfg.TTL, now: cfg.Now, inv: cfg.Invalidations, observeHit: cfg.ObserveHit,
		perShard: (cfg.MaxEntries + cacheShards - 1) / cacheShards,
	}
	for i := range c.shards {
		c.shards[i].m = make(map[digest]cacheEntry)
	}
	c.subscribed.Store(c.inv == nil)
	return c
}

// Run listens for invalidations until ctx is done. Without Invalidations it
// just waits. It returns nil.
func (c *Cached) Run(ctx context.Context) error {
	if c.inv == nil {
		<-ctx.Done()
		return nil
	}
	_ = c.inv.WatchInvalidations(ctx, c)
	c.Unsubscribed()
	return nil
}

// Lookup returns the cached session for token while it is fresh, and
// otherwise asks the inner store, caching what it finds.
func (c *Cached) Lookup(ctx context.Context, token string) (authz.Session, error) {
	var start time.Time
	if c.observeHit != nil {
		start = time.Now()
	}
	key := sha256.Sum256([]byte(token))
	sh := &c.shards[key[0]%cacheShards]
	now := c.now()
	sh.mu.RLock()
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	if ok && now.Before(e.until) {
		c.hits.Add(1)
		s := cloneSession(e.s)
		if c.observeHit != nil {
			c.observeHit(time.Since(start))
		}
		return s, nil
	}
	c.misses.Add(1)
	epoch := c.epoch.Load()
	s, err := c.inner.Lookup(ctx, token)
	if err != nil {
		if ok && errors.Is(err, authz.ErrNoSession) {
			sh.remove(key)
		}
		return s, err
	}
	if c.subscribed.Load() {
		until := earliest(now.Add(c.ttl), s.ExpiresAt)
		evicted := sh.storeIf(key, cacheEntry{s: cloneSession(s), until: until}, now, c.perShard, func() bool {
			return c.epoch.Load() == epoch
		})
		if evicted > 0 {
			c.evictions.Add(uint64(evicted))
		}
	}
	return s, nil
}

// Invalidate drops the sessions with these hashes (hex Hash(token)).
// Anything that is not such a hash is ignored.
func (c *Cached) Invalidate(hashes []string) {
	// The epoch moves before any entry goes, so that a lookup that fetched
	// before the deletion cannot store after this (see storeIf).
	c.epoch.Add(1)
	for _, h := range hashes {
		var key digest
		if len(h) != hashLen {
			continue
		}
		if _, err := hex.Decode(key[:], []byte(h)); err != nil {
			continue
		}
		c.shards[key[0]%cacheShards].remove(key)
	}
}

// Subscribed clears the cache and starts caching: invalidations are heard
// again, but any published while they were not are lost.
func (c *Cached) Subscribed() {
	c.epoch.Add(1)
	c.clear()
	c.subscribed.Store(true)
}

// Unsubscribed stops caching new entries until Subscribed. Cached entries
// stay until their TTL.
func (c *Cached) Unsubscribed() {
	if c.inv != nil {
		c.subscribed.Store(false)
	}
}

// Len returns how many entries are cached, fresh or not.
func (c *Cached) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

func (c *Cached) clear() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
}

func (sh *cacheShard) remove(key digest) {
	sh.mu.Lock()
	delete(sh.m, key)
	sh.mu.Unlock()
}

// storeIf stores e under key if ok() still holds under the shard's lock,
// making room first: expired entries, then arbitrary ones. It returns how
// many live entries it evicted.
func (sh *cacheShard) storeIf(key digest, e cacheEntry, now time.Time, bound int, ok func() bool) (evicted int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !ok() {
		return 0
	}
	if _, exists := sh.m[key]; !exists && len(sh.m) >= bound {
		for k, old := range sh.m {
			if !now.Before(old.until) {
				delete(sh.m, k)
			}
		}
		for k := range sh.m {
			if len(sh.m) < bound {
				break
			}
			delete(sh.m, k)
			evicted++
		}
	}
	sh.m[key] = e
	return evicted
}
