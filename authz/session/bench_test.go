package session

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

func benchSession() authz.Session {
	now := time.Now()
	return authz.Session{
		Subject:   "alice@example.com",
		Email:     "alice@example.com",
		Groups:    []string{"ml-readers", "ml-admins", "everyone"},
		IdP:       "https://idp.example.com",
		CreatedAt: now,
		ExpiresAt: now.Add(time.Hour),
	}
}

func BenchmarkMemoryLookup(b *testing.B) {
	benchLookup(b, NewMemory(MemoryConfig{}))
}

func BenchmarkRedisLookup(b *testing.B) {
	srv := redistest.Start(b)
	s, err := NewRedis(srv.Client(), RedisConfig{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	benchLookup(b, s)
	// RESP2 vs go-redis's default RESP3: RESP3 peeks for push
	// notifications around every command.
	for _, proto := range []int{2, 3} {
		b.Run(fmt.Sprintf("resp%d", proto), func(b *testing.B) {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, Protocol: proto})
			defer c.Close()
			s, err := NewRedis(c, RedisConfig{Timeout: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			benchLookup(b, s)
		})
	}
}

// BenchmarkCachedLookup measures a cache hit in front of Redis: the Check
// path's cost for a session looked up again within the cache's TTL.
func BenchmarkCachedLookup(b *testing.B) {
	srv := redistest.Start(b)
	r, err := NewRedis(srv.Client(), RedisConfig{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := authz.NewToken(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Create(ctx, tok, benchSession()); err != nil {
		b.Fatal(err)
	}
	c := NewCached(r, CacheConfig{TTL: time.Hour})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Lookup(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// A hit timed for tfgate_session_lookup_duration_seconds{source="cache"}
	// (ObserveHit) against one that is not: the cost of the metric.
	var sink atomic.Int64
	timed := NewCached(r, CacheConfig{TTL: time.Hour, ObserveHit: func(d time.Duration) { sink.Add(int64(d)) }})
	for _, tc := range []struct {
		name string
		c    *Cached
	}{{"untimed", c}, {"timed", timed}, {"untimed-again", c}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.c.Lookup(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeal measures sealing and opening one session: HKDF, AES-GCM
// and JSON, the CPU a Redis lookup adds to its round trip.
func BenchmarkSeal(b *testing.B) {
	tok, _ := authz.NewToken(nil)
	plain, err := encodeSession(benchSession())
	if err != nil {
		b.Fatal(err)
	}
	hash := Hash(tok)
	sealed, err := seal(tok, hash, plain, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := unseal(tok, hash, sealed)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := decodeSession(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchLookup measures Lookup of one live session, serially and from
// GOMAXPROCS goroutines.
func benchLookup(b *testing.B, s store) {
	ctx := context.Background()
	tok, err := authz.NewToken(nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Create(ctx, tok, benchSession()); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Lookup(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Lookup(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkMemoryBytesPerSession reports the live heap a memory-store
// session costs (benchSession: three groups, a 17-byte subject), measured
// over 20,000 sessions as the heap growth divided by their number.
func BenchmarkMemoryBytesPerSession(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = rand.Text()
	}
	var perSession float64
	for b.Loop() {
		before := heapInUse()
		m := NewMemory(MemoryConfig{MaxEntries: 2 * n})
		for _, tok := range tokens {
			if err := m.Create(ctx, tok, benchSession()); err != nil {
				b.Fatal(err)
			}
		}
		perSession = float64(heapInUse()-before) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perSession, "B/session")
}
