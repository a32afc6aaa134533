package rego

import (
	"hash/maphash"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/tfgate/tfgate/authz"
)

// termCache remembers recent input terms by the fields they are built
// from, like subjectCache: direct-mapped (one slot per hash, a new key
// replaces the old), so bounded and lock-free, and a slot is used only for
// an equal key. A request's target (API, model, version) and request line
// repeat across callers far more than they vary, and each is an object of
// five or six string terms to build. Terms are never modified by an
// evaluation, so one term serves every evaluation that has its key.
type termCache[K comparable] struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[termEntry[K]]
}

type termEntry[K comparable] struct {
	key  K
	term *ast.Term
}

func newTermCache[K comparable]() *termCache[K] { return &termCache[K]{seed: maphash.MakeSeed()} }

func (c *termCache[K]) term(key K, build func(K) *ast.Term) *ast.Term {
	slot := &c.slots[maphash.Comparable(c.seed, key)%uint64(len(c.slots))]
	if e := slot.Load(); e != nil && e.key == key {
		return e.term
	}
	e := &termEntry[K]{key: key, term: build(key)}
	slot.Store(e)
	return e.term
}

// targetKey is an InputTarget as a comparable value.
type targetKey struct {
	api, model, signature, method string
	version                       int64
	hasVersion, hasLabel          bool
	label                         string
}

func keyOfTarget(t *authz.InputTarget) targetKey {
	k := targetKey{api: t.API, model: t.Model, signature: t.Signature, method: t.Method}
	if t.Version != nil {
		k.version, k.hasVersion = *t.Version, true
	}
	if t.Label != nil {
		k.label, k.hasLabel = *t.Label, true
	}
	return k
}

func (k targetKey) input() authz.InputTarget {
	t := authz.InputTarget{API: k.api, Model: k.model, Signature: k.signature, Method: k.method}
	if k.hasVersion {
		t.Version = &k.version
	}
	if k.hasLabel {
		t.Label = &k.label
	}
	return t
}

func buildTarget(k targetKey) *ast.Term {
	t := k.input()
	return targetTerm(&t)
}

func buildRequest(r authz.InputRequest) *ast.Term { return requestTerm(&r) }

// inputCaches are the term caches of one policy revision.
type inputCaches struct {
	subjects *subjectCache
	requests *termCache[authz.InputRequest]
	targets  *termCache[targetKey]
}

func newInputCaches() *inputCaches {
	return &inputCaches{subjects: newSubjectCache(), requests: newTermCache[authz.InputRequest](), targets: newTermCache[targetKey]()}
}

// input is inputValue with every part taken from the caches.
func (c *inputCaches) input(in *authz.Input) ast.Value {
	return ast.NewObject(
		[2]*ast.Term{kSubject, c.subjects.term(in.Subject)},
		[2]*ast.Term{kRequest, c.requests.term(in.Request, buildRequest)},
		[2]*ast.Term{kTarget, c.targets.term(keyOfTarget(&in.Target), buildTarget)},
	)
}
