package session

import (
	"context"
	"testing"
	"time"

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
	s, err := NewRedis(srv.Client(), RedisConfig{})
	if err != nil {
		b.Fatal(err)
	}
	benchLookup(b, s)
}

// benchLookup measures Lookup of one live session, serially and from
// GOMAXPROCS goroutines.
func benchLookup(b *testing.B, s store) {
	ctx := context.Background()
	tok, err := NewToken(nil)
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
