package session

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/tfgate/tfgate/authz"
)

// Single logout started by the IdP (SAML core §3.7). A LogoutRequest names
// a user by the IdP's entity ID and the NameID it asserted, and may name
// the IdP sessions to end (SessionIndex). So every browser session signed
// in through SAML is indexed under (IdP, NameID) and, when the assertion
// had a SessionIndex, under (IdP, NameID, SessionIndex): sorted sets like
// the subject index ("sl:" + a domain-separated hash, so a dump holds no
// names; each index is one key, so any Cluster slot works). Ending them
// revokes each listed session with the tokens minted from it (its family),
// exactly as RevokeHandle does, and publishes the invalidations, so every
// replica's cache drops them.

// samlDomain separates the single logout indexes' hashes from the others.
const samlDomain = "tfgate saml session\x00"

// samlName is what a single logout index is named by: the IdP, the NameID
// and, for the per-session index, the SessionIndex, each ended by a NUL
// so that no two triples share a name.
func samlName(idp, nameID, sessionIndex string, withIndex bool) string {
	name := samlDomain + idp + "\x00" + nameID + "\x00"
	if withIndex {
		name += sessionIndex + "\x00"
	}
	return name
}

// samlKeys returns the single logout indexes a session belongs to: none
// unless it is a browser session (no Family) signed in through an IdP.
// Tokens minted from it are not listed: they go with its family.
func samlKeys(prefix string, s authz.Session) []string {
	if s.Family != "" || s.IdP == "" || s.Subject == "" {
		return nil
	}
	keys := []string{redisKey(prefix, kindSAML, samlName(s.IdP, s.Subject, "", false))}
	if s.SessionIndex != "" {
		keys = append(keys, redisKey(prefix, kindSAML, samlName(s.IdP, s.Subject, s.SessionIndex, true)))
	}
	return keys
}

// samlIndexNames returns the names of the indexes a LogoutRequest names:
// one per SessionIndex, or, without any, every session of the NameID at
// the IdP.
func samlIndexNames(idp, nameID string, sessionIndexes []string) []string {
	if len(sessionIndexes) == 0 {
		return []string{samlName(idp, nameID, "", false)}
	}
	names := make([]string, 0, len(sessionIndexes))
	for _, si := range sessionIndexes {
		names = append(names, samlName(idp, nameID, si, true))
	}
	return names
}

// EndSAMLSessions ends the browser sessions signed in by idp for nameID:
// those with one of sessionIndexes, or, when there is none, all of them.
// Each goes with every token minted from it (extauthz login), on every
// replica's cache. It returns how many sessions were live. Both idp and
// nameID must be set.
func (r *Redis) EndSAMLSessions(ctx context.Context, idp, nameID string, sessionIndexes []string) (int, error) {
	if idp == "" || nameID == "" {
		return 0, ErrEmptyKey
	}
	ended := 0
	for _, name := range samlIndexNames(idp, nameID, sessionIndexes) {
		n, err := r.endIndexed(ctx, redisKey(r.prefix, kindSAML, name))
		ended += n
		if err != nil {
			return ended, fmt.Errorf("session: ending the sessions of a SAML sign-in: %w", err)
		}
	}
	return ended, nil
}

// endIndexed revokes every session an index lists as RevokeHandle does:
// tombstones for their families first, then the sessions, then the
// families' tokens; and removes exactly the members it read.
func (r *Redis) endIndexed(ctx context.Context, index string) (int, error) {
	members, err := r.client.ZRange(ctx, index, 0, -1).Result()
	r.noteError(ctx, err)
	if err != nil {
		return 0, fmt.Errorf("reading the index: %w", err)
	}
	refs := make([]ref, 0, len(members))
	handles := make([]string, 0, len(members))
	for _, m := range members {
		if rf, ok := parseMember(m); ok {
			refs = append(refs, rf)
			handles = append(handles, rf.handle)
		}
	}
	if err := r.markAllRevoked(ctx, handles); err != nil {
		return 0, fmt.Errorf("revoking the tokens of listed sessions: %w", err)
	}
	ended := 0
	for _, rf := range refs {
		found, err := r.deleteRef(ctx, rf)
		if err != nil {
			return ended, fmt.Errorf("revoking session %s: %w", rf.handle, err)
		}
		if found {
			ended++
		}
		if _, err := r.revokeIndex(ctx, familyKey(r.prefix, rf.handle), false); err != nil {
			return ended, fmt.Errorf("revoking the tokens of session %s: %w", rf.handle, err)
		}
	}
	if len(members) > 0 {
		done := make([]any, len(members))
		for i, m := range members {
			done[i] = m
		}
		if err := r.client.ZRem(ctx, index, done...).Err(); err != nil && err != redis.Nil {
			return ended, fmt.Errorf("updating the index: %w", err)
		}
	}
	// The tombstones again, to last from now (family.go).
	if err := r.markAllRevoked(ctx, handles); err != nil {
		return ended, fmt.Errorf("revoking the tokens of listed sessions: %w", err)
	}
	return ended, nil
}

// memSAML is the Memory store's single logout index: for each index name's
// digest, the session digests listed with their handles. It is guarded by
// fam.mu, like the families, and pruned the same way.
type memSAML struct {
	members map[digest]map[digest]string
	n       int // members in all sets
	limit   int // prune when n reaches it
}

func newMemSAML(maxEntries int) memSAML {
	return memSAML{members: make(map[digest]map[digest]string), limit: max(maxEntries, 1024)}
}

// indexSAML lists a browser session signed in through an IdP under its
// single logout indexes.
func (m *Memory) indexSAML(key digest, token string, s authz.Session) {
	if s.Family != "" || s.IdP == "" || s.Subject == "" {
		return
	}
	names := []string{samlName(s.IdP, s.Subject, "", false)}
	if s.SessionIndex != "" {
		names = append(names, samlName(s.IdP, s.Subject, s.SessionIndex, true))
	}
	handle := authz.SessionHandle(token)
	m.fam.mu.Lock()
	defer m.fam.mu.Unlock()
	x := &m.saml
	if x.n >= x.limit {
		m.pruneSAMLLocked()
	}
	for _, name := range names {
		d := sha256.Sum256([]byte(name))
		set := x.members[d]
		if set == nil {
			set = make(map[digest]string)
			x.members[d] = set
		}
		if _, ok := set[key]; !ok {
			x.n++
		}
		set[key] = handle
	}
}

// pruneSAMLLocked drops members whose sessions are gone and raises the
// limit if most are live; fam.mu must be held.
func (m *Memory) pruneSAMLLocked() {
	x := &m.saml
	x.n = 0
	for d, set := range x.members {
		for key := range set {
			if _, ok := m.sessions.get(key); !ok {
				delete(set, key)
			}
		}
		if len(set) == 0 {
			delete(x.members, d)
		}
		x.n += len(set)
	}
	x.limit = max(x.limit, 2*x.n)
}

// EndSAMLSessions ends the browser sessions signed in by idp for nameID:
// those with one of sessionIndexes, or, when there is none, all of them,
// each with every token minted from it. It returns how many were live.
func (m *Memory) EndSAMLSessions(_ context.Context, idp, nameID string, sessionIndexes []string) (int, error) {
	if idp == "" || nameID == "" {
		return 0, ErrEmptyKey
	}
	m.fam.mu.Lock()
	defer m.fam.mu.Unlock()
	now, ended := m.now(), 0
	for _, name := range samlIndexNames(idp, nameID, sessionIndexes) {
		d := sha256.Sum256([]byte(name))
		set := m.saml.members[d]
		delete(m.saml.members, d)
		m.saml.n -= len(set)
		for key, handle := range set {
			if e, ok := m.sessions.get(key); ok && m.sessions.remove(key) && now.Before(e.expires) {
				ended++
			}
			m.removeFamilyLocked(handle)
			m.markRevokedLocked(handle)
		}
	}
	return ended, nil
}
