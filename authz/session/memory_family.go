package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// memFamilies is a Memory's family bookkeeping (family.go describes
// families): the members of each family, so that revoking one touches
// only its sessions, and the tombstones of revoked families. Its mutex
// makes "check the tombstones, then store" in Create atomic with "write
// the tombstone, then delete the family" in RevokeFamily and Delete.
//
// The member sets are not told when the sessions table evicts or sweeps a
// session; such stale members are skipped when a family is revoked, and
// pruned once the sets hold more than limit members.
type memFamilies struct {
	mu      sync.Mutex
	revoked *table
	members map[string]map[digest]struct{}
	n       int // members in all sets
	limit   int
}

func newMemFamilies(maxEntries int) memFamilies {
	return memFamilies{revoked: newTable(maxEntries), members: map[string]map[digest]struct{}{}, limit: 2 * maxEntries}
}

// createInFamily stores s (which has a Family) under key, unless its
// family or one it extends has been revoked, or ctx's deadline has passed
// (family.go: familyTombstoneTTL bounds only checks made before it).
func (m *Memory) createInFamily(ctx context.Context, key digest, s authz.Session, now time.Time) error {
	f := &m.fam
	f.mu.Lock()
	defer f.mu.Unlock()
	if pastDeadline(ctx) {
		return fmt.Errorf("session: storing a session: %w", errFamilyCheckLate)
	}
	levels := familyLevels(s.Family)
	for _, l := range levels {
		if e, ok := f.revoked.get(familyDigest(l)); ok && now.Before(e.expires) {
			return ErrFamilyRevoked
		}
	}
	m.tokens.putSession(key, s.ExpiresAt, s, now)
	for _, l := range levels {
		set := f.members[l]
		if set == nil {
			set = map[digest]struct{}{}
			f.members[l] = set
		}
		if _, ok := set[key]; !ok {
			set[key] = struct{}{}
			f.n++
		}
	}
	if f.n > f.limit {
		m.pruneFamiliesLocked()
	}
	return nil
}

// Discard deletes the token endpoint's sessions named by refs
// (authz.TokenRef), members of s's family, without revoking any family:
// rotation retiring what it replaced. Unknown or malformed refs are
// skipped.
func (m *Memory) Discard(_ context.Context, s authz.Session, refs ...string) error {
	f := &m.fam
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range refs {
		ref, ok := parseMember(r)
		if !ok {
			continue
		}
		var key digest
		if _, err := hex.Decode(key[:], []byte(ref.hash)); err != nil {
			continue
		}
		m.tokens.remove(key)
		for _, l := range familyLevels(s.Family) {
			if set := f.members[l]; set != nil {
				if _, ok := set[key]; ok {
					delete(set, key)
					f.n--
				}
				if len(set) == 0 {
					delete(f.members, l)
				}
			}
		}
	}
	return nil
}

// markRevokedLocked writes a family's tombstone; fam.mu must be held.
func (m *Memory) markRevokedLocked(family string) {
	now := m.now()
	m.fam.revoked.put(familyDigest(family), now.Add(familyTombstoneTTL), authz.Session{}, now)
}

// removeFamilyLocked deletes a family's sessions and returns how many were
// live; fam.mu must be held.
func (m *Memory) removeFamilyLocked(family string) int {
	f := &m.fam
	set := f.members[family]
	delete(f.members, family)
	f.n -= len(set)
	now, live := m.now(), 0
	for key := range set {
		e, ok := m.tokens.get(key)
		if !ok || !inFamily(e.session.Family, family) {
			continue
		}
		if m.tokens.remove(key) && now.Before(e.expires) {
			live++
		}
	}
	return live
}

// pruneFamiliesLocked drops members whose sessions are gone, and raises
// the limit if most members are live, so that pruning stays amortised.
func (m *Memory) pruneFamiliesLocked() {
	f := &m.fam
	f.n = 0
	for family, set := range f.members {
		for key := range set {
			if e, ok := m.tokens.get(key); !ok || !inFamily(e.session.Family, family) {
				delete(set, key)
			}
		}
		if len(set) == 0 {
			delete(f.members, family)
		}
		f.n += len(set)
	}
	f.limit = max(f.limit, 2*f.n)
}

// inFamily reports whether a session's Family is family or extends it.
func inFamily(sessionFamily, family string) bool {
	return sessionFamily == family || strings.HasPrefix(sessionFamily, family+"/")
}

// familyDigest keys a family's tombstone.
func familyDigest(family string) digest { return sha256.Sum256([]byte(familyDomain + family)) }
