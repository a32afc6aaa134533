package rego

import (
	"context"
	"testing"

	"github.com/tfgate/tfgate/authz"
)

func TestCacheKeyDistinguishesInputs(t *testing.T) {
	v1, v2 := int64(1), int64(12)
	l1 := "1"
	inputs := map[string]*authz.Input{
		"base":             in([]string{"a", "b"}, "predict", "m"),
		"joined groups":    in([]string{"a,b"}, "predict", "m"),
		"group boundary":   in([]string{"a", "b", ""}, "predict", "m"),
		"anonymous":        in(nil, "predict", "m", anonymous),
		"version 1":        in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Target.Version = &v1 }),
		"version 12":       in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Target.Version = &v2 }),
		"label 1":          in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Target.Label = &l1 }),
		"empty scope":      in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Subject.Scope = []string{} }),
		"scope":            in([]string{"a", "b"}, "predict", "m", scope("model:m")),
		"bearer":           in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Subject.Auth = authz.AuthBearer }),
		"model in path":    in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Request.Path += "x" }),
		"model/api swap":   in([]string{"a", "b"}, "m", "predict"),
		"signature":        in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Target.Signature = "" }),
		"expiry":           in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Subject.ExpiresAt = x.Subject.ExpiresAt.Add(1) }),
		"task method":      in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Target.Method = "regress" }),
		"id/email shifted": in([]string{"a", "b"}, "predict", "m", func(x *authz.Input) { x.Subject.ID += "a"; x.Subject.Email = x.Subject.Email[1:] }),
	}
	seen := map[string]string{}
	for name, x := range inputs {
		k := cacheKey(x)
		if other, dup := seen[k]; dup {
			t.Errorf("%q and %q share the cache key %q", name, other, k)
		}
		seen[k] = name
	}
}

func TestDecisionCache(t *testing.T) {
	ctx := context.Background()
	allowed := in([]string{"resnet-users"}, "predict", "resnet50", version(2))
	denied := in([]string{"resnet-users"}, "predict", "resnet50", version(3))

	e := mustNew(t, Config{})
	if e.cur.Load().cache == nil {
		t.Fatal("the default policy is deterministic but got no decision cache")
	}
	for range 3 {
		if v, err := e.Evaluate(ctx, allowed); err != nil || !v.Allow || v.PolicyRevision != e.Revision() {
			t.Fatalf("allowed: %+v %v (revision in force %s)", v, err, e.Revision())
		}
		if v, err := e.Evaluate(ctx, denied); err != nil || v.Allow {
			t.Fatalf("denied: %+v %v", v, err)
		}
	}

	// A policy whose answer depends on the clock must never be cached.
	dir := writeDir(t, map[string]string{"p.rego": `package tfgate.authz
import rego.v1
decision := {"allow": time.now_ns() > 0, "reason": "clock"}`})
	if e := mustNew(t, Config{Dir: dir}); e.cur.Load().cache != nil {
		t.Error("a policy calling time.now_ns got a decision cache")
	}
	if e := mustNew(t, Config{DecisionCacheEntries: -1}); e.cur.Load().cache != nil {
		t.Error("a disabled cache exists")
	}
}

func TestDecisionCacheIsPerRevision(t *testing.T) {
	ctx := context.Background()
	policy := func(allow string) map[string]string {
		return map[string]string{"p.rego": "package tfgate.authz\nimport rego.v1\ndecision := {\"allow\": " + allow + ", \"reason\": \"r\"}\n"}
	}
	dir := writeDir(t, policy("true"))
	e := mustNew(t, Config{Dir: dir})
	x := in([]string{"g"}, "predict", "m")
	if v, _ := e.Evaluate(ctx, x); !v.Allow {
		t.Fatal("want allow before the edit")
	}
	writeFiles(t, dir, policy("false"))
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Evaluate(ctx, x); v.Allow {
		t.Fatal("a cached allow survived a policy reload")
	}
}

func TestDecisionCacheBounded(t *testing.T) {
	c := newDecisionCache(32)
	for i := range 1000 {
		c.put(string(rune('a'+i%26))+string(rune(i)), authz.Verdict{})
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > 32 {
		t.Errorf("cache holds %d entries, bound 32", n)
	}
}
