package rego

import (
	"hash/maphash"
	"slices"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/tfgate/tfgate/authz"
)

// subjectCache remembers the input term of recent subjects. A caller's
// subject (id, email, groups, idp, auth, scope, expiry) is the same on every
// Check of one session, and building it is most of the input's cost (two
// objects, a list and a string term per field). It is direct-mapped: one
// slot per hash, a new subject replaces the old one, so it is bounded and
// lock-free. A slot is used only for an equal subject, so a hash collision
// costs a rebuild, never a wrong input.
type subjectCache struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[subjectEntry]
}

type subjectEntry struct {
	s    authz.Subject // a copy: the caller's slices may change after
	term *ast.Term
}

func newSubjectCache() *subjectCache { return &subjectCache{seed: maphash.MakeSeed()} }

func (c *subjectCache) term(s *authz.Subject) *ast.Term {
	if s == nil {
		return ast.NullTerm()
	}
	slot := &c.slots[c.hash(s)%uint64(len(c.slots))]
	if e := slot.Load(); e != nil && sameSubject(&e.s, s) {
		return e.term
	}
	e := &subjectEntry{s: *s, term: subjectTerm(s)}
	e.s.Groups, e.s.Scope = slices.Clone(s.Groups), slices.Clone(s.Scope)
	slot.Store(e)
	return e.term
}

func (c *subjectCache) hash(s *authz.Subject) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(s.ID)
	h.WriteByte(0)
	h.WriteString(s.Auth)
	for _, g := range s.Groups {
		h.WriteByte(0)
		h.WriteString(g)
	}
	return h.Sum64()
}

// sameSubject reports whether a and b give the same input document,
// including nil versus empty slices (null versus []).
func sameSubject(a, b *authz.Subject) bool {
	return a.ID == b.ID && a.Email == b.Email && a.IdP == b.IdP && a.Auth == b.Auth &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.ExpiresAt.Location() == b.ExpiresAt.Location() &&
		sameStrings(a.Groups, b.Groups) && sameStrings(a.Scope, b.Scope)
}

func sameStrings(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}
