package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/redistest"
)

// slowGets answers every session read 120ms late: a moment of CPU
// overload, longer than the Check path's 50ms budget.
type slowGets struct{}

func (slowGets) DialHook(next redis.DialHook) redis.DialHook { return next }
func (slowGets) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "get" {
			time.Sleep(120 * time.Millisecond)
		}
		return next(ctx, cmd)
	}
}
func (slowGets) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "get" {
			time.Sleep(120 * time.Millisecond)
		}
		return next(ctx, cmds)
	}
}

// TestSPLookupBudget: the SP's endpoints (/saml/, /token, /token/revoke)
// look sessions up with spLookupTimeout, not the Check path's 50ms: a
// Redis read 120ms late fails a lookup made with the store's own budget
// (twice, with the retry) but not one made through the SP's mounts. Before,
// such reads failed refreshes and sign-outs with 503 under load.
func TestSPLookupBudget(t *testing.T) {
	t.Parallel()
	c := redistest.Start(t).Client()
	store, err := session.NewRedis(c, session.RedisConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Create(context.Background(), "tfg_budget", authz.Session{Subject: "a", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c.AddHook(slowGets{})
	var lookupErr error
	lookup := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		_, lookupErr = store.Lookup(context.Background(), "tfg_budget")
	})
	lookup.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/token", nil))
	if lookupErr == nil {
		t.Fatal("a 120ms read passed the Check path's 50ms budget: the test shows nothing")
	}
	lookup = func(_ http.ResponseWriter, r *http.Request) {
		_, lookupErr = store.Lookup(r.Context(), "tfg_budget")
	}
	s := &samlSP{handler: lookup, token: lookup}
	for path, h := range s.Mount() {
		if path == "GET /{$}" {
			continue
		}
		lookupErr = nil
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
		if lookupErr != nil {
			t.Errorf("%s: Lookup under the SP's budget: %v", path, lookupErr)
		}
	}
}
