package rego

import (
	"hash/maphash"
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/tfgate/tfgate/authz"
)

// decisionCache remembers verdicts of one policy revision by their complete
// input. A deterministic policy's verdict is a function of its input and
// data, so a hit is exactly what evaluation would return; it spares the
// allow path most of its cost (OPA evaluation is ~90% of a Check). The cache
// lives in a prepared policy, so a reload starts with an empty one, and it
// is not used at all for policies that call non-deterministic built-ins
// (time.now_ns, http.send, ...).
//
// It is bounded: each shard drops an arbitrary entry when full, which keeps
// an attacker cycling unique paths from growing it.
type decisionCache struct {
	seed   maphash.Seed
	shards [16]cacheShard
	max    int // per shard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]authz.Verdict
}

func newDecisionCache(entries int) *decisionCache {
	c := &decisionCache{seed: maphash.MakeSeed(), max: max(1, entries/16)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]authz.Verdict)
	}
	return c
}

func (c *decisionCache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

func (c *decisionCache) get(key string) (authz.Verdict, bool) {
	s := c.shard(key)
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	v.Cached = ok
	return v, ok
}

// put stores v. Verdicts are shared between callers and must not be
// mutated; the Check pipeline only reads them.
func (c *decisionCache) put(key string, v authz.Verdict) {
	s := c.shard(key)
	s.mu.Lock()
	if len(s.m) >= c.max {
		for k := range s.m {
			delete(s.m, k)
			break
		}
	}
	s.m[key] = v
	s.mu.Unlock()
}

// cacheKey encodes every field of the input, each length-prefixed so that
// no two different inputs share a key.
func cacheKey(in *authz.Input) string {
	b := make([]byte, 0, 256)
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	list := func(ss []string) {
		b = strconv.AppendInt(b, int64(len(ss)), 10)
		b = append(b, '[')
		for _, s := range ss {
			field(s)
		}
	}
	if s := in.Subject; s != nil {
		b = append(b, 'S')
		field(s.ID)
		field(s.Email)
		list(s.Groups)
		field(s.IdP)
		field(s.Auth)
		if s.Scope == nil {
			b = append(b, 'n')
		}
		list(s.Scope)
		b = strconv.AppendInt(b, s.ExpiresAt.UnixNano(), 10)
		b = append(b, '|')
	} else {
		b = append(b, 'A')
	}
	field(in.Request.Method)
	field(in.Request.Path)
	field(in.Request.Host)
	field(in.Request.Protocol)
	t := &in.Target
	field(t.API)
	field(t.Model)
	if t.Version != nil {
		b = append(b, 'v')
		b = strconv.AppendInt(b, *t.Version, 10)
		b = append(b, '|')
	}
	if t.Label != nil {
		b = append(b, 'l')
		field(*t.Label)
	}
	field(t.Signature)
	field(t.Method)
	return string(b)
}

// deterministic reports whether no rule of the compiled policy calls a
// built-in whose result can change between two evaluations of one input.
func deterministic(c *ast.Compiler) bool {
	ok := true
	for _, m := range c.Modules {
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if !e.IsCall() {
				return false
			}
			if b, found := ast.BuiltinMap[e.Operator().String()]; found && b.Nondeterministic {
				ok = false
			}
			return !ok
		})
	}
	return ok
}
