package main

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
)

// newSessionStore builds the configured store and a function that releases it.
func newSessionStore(cfg SessionsConfig) (authz.SessionStore, func(), error) {
	switch cfg.Store {
	case "redis":
		client := redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs: cfg.Redis.Addrs, Username: cfg.Redis.Username, Password: cfg.Redis.Password, DB: cfg.Redis.DB,
			// Without this go-redis ignores context deadlines on the socket and the
			// per-Check time budget could not bound a hung Redis.
			ContextTimeoutEnabled: true,
		})
		s, err := session.NewRedis(client, session.RedisConfig{Prefix: cfg.Redis.Prefix, Timeout: cfg.Redis.Timeout})
		if err != nil {
			client.Close()
			return nil, nil, fmt.Errorf("sessions: %w", err)
		}
		return s, func() { client.Close() }, nil
	default:
		m := session.NewMemory(session.MemoryConfig{MaxEntries: cfg.Memory.MaxEntries})
		return m, func() {}, nil
	}
}
