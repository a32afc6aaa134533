package session

import (
	"context"
	"crypto/sha256"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// defaultMaxEntries is MemoryConfig.MaxEntries when unset.
const defaultMaxEntries = 100_000

// MemoryConfig configures a Memory store.
type MemoryConfig struct {
	// MaxEntries bounds each kind of entry separately, in its own pool:
	// browser sessions; the token endpoint's tokens and records (access
	// tokens, refresh and code records); one-time IDs (Remember: the CLI's
	// authorization codes); the replay cache (SeenBefore: assertion IDs,
	// answered requests, used refresh tokens); revoked families. When a
	// pool is full, its own entry closest to expiry is evicted, so no kind
	// can displace another: tokens never evict a browser session, and
	// nothing an anonymous request can write (nothing: /saml/login stores
	// no state) evicts either. default: 100000.
	MaxEntries int
	// Lifetime limits how long sessions live; negative durations count as
	// zero. default: no limits.
	Lifetime Lifetime
	// Now returns the current time. default: time.Now.
	Now func() time.Time
}

// Memory is a SessionStore in process memory, for a single replica and for
// development. It is safe for concurrent use, starts no goroutines and needs
// no Close. Its methods never block on I/O and ignore their context.
type Memory struct {
	now      func() time.Time
	life     Lifetime
	sessions *table // browser sessions (no Family)
	tokens   *table // the token endpoint's sessions and records (a Family)
	requests *table
	replays  *table
	fam      memFamilies
	saml     memSAML // single logout indexes (slo.go), under fam.mu
}

// Interface guard.
var _ authz.SessionStore = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory(cfg MemoryConfig) *Memory {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = defaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := cfg.Lifetime
	l.Max, l.Idle, l.MaxAuthAge, l.TouchInterval = max(l.Max, 0), max(l.Idle, 0), max(l.MaxAuthAge, 0), max(l.TouchInterval, 0)
	return &Memory{
		now:      cfg.Now,
		life:     l.withDefaults(),
		sessions: newTable(cfg.MaxEntries),
		tokens:   newTable(cfg.MaxEntries),
		requests: newTable(cfg.MaxEntries),
		replays:  newTable(cfg.MaxEntries),
		fam:      newMemFamilies(cfg.MaxEntries),
		saml:     newMemSAML(cfg.MaxEntries),
	}
}

// Create stores s under token until s.ExpiresAt, lowered to the store's
// Lifetime limits, replacing any session the token already names. A zero
// CreatedAt is set to Now. It returns ErrInvalidExpiry when s.ExpiresAt is
// zero or the limited expiry is not after Now, and ErrFamilyRevoked when
// s.Family has been revoked. A session with a Family (the token
// endpoint's) has no idle timeout.
func (m *Memory) Create(ctx context.Context, token string, s authz.Session) error {
	if token == "" {
		return ErrEmptyKey
	}
	now := m.now()
	s, err := m.life.atCreate(s, now)
	if err != nil {
		return err
	}
	key := sha256.Sum256([]byte(token))
	if s.Family == "" {
		m.sessions.putSession(key, s.ExpiresAt, cloneSession(s), now)
		m.indexSAML(key, token, s)
		return nil
	}
	return m.createInFamily(ctx, key, cloneSession(s), now)
}

// RevokeFamily deletes every session in family (whose Family is family or
// extends it, "family/...") and refuses new ones in it (ErrFamilyRevoked)
// for familyTombstoneTTL. It returns how many live sessions it deleted.
func (m *Memory) RevokeFamily(_ context.Context, family string) (int, error) {
	if family == "" {
		return 0, ErrEmptyKey
	}
	m.fam.mu.Lock()
	defer m.fam.mu.Unlock()
	m.markRevokedLocked(family)
	return m.removeFamilyLocked(family), nil
}

// Lookup returns the session token names, with ExpiresAt lowered to
// CreatedAt+MaxAuthAge. It returns ErrNotFound or ErrExpired, both wrapping
// authz.ErrNoSession, when there is no live one: unknown, past ExpiresAt,
// too old, or idle for Lifetime.Idle.
func (m *Memory) Lookup(_ context.Context, token string) (authz.Session, error) {
	key := sha256.Sum256([]byte(token))
	t := m.sessions
	e, ok := t.get(key)
	if !ok {
		t = m.tokens
		if e, ok = t.get(key); !ok {
			return authz.Session{}, ErrNotFound
		}
	}
	now := m.now()
	s, live := m.life.atLookup(e.session, now)
	if live && m.life.Idle > 0 && s.Family == "" {
		live = m.touch(e.seen, now)
	}
	if !live {
		t.removeIf(key, e.seq)
		return authz.Session{}, ErrExpired
	}
	return cloneSession(s), nil
}

// touch reports whether a session last used at *seen is not idle at now,
// and records now as its last use at most once per TouchInterval, so that
// concurrent lookups of one session do not all write the same word.
func (m *Memory) touch(seen *atomic.Int64, now time.Time) bool {
	last := time.Unix(0, seen.Load())
	if now.Sub(last) >= m.life.Idle {
		return false
	}
	if now.Sub(last) >= m.life.TouchInterval {
		seen.Store(now.UnixNano())
	}
	return true
}

// Delete removes the session token names and every session minted from it
// (its family: the sessions whose Family is its handle). Deleting a missing
// session is not an error; its family is revoked all the same.
func (m *Memory) Delete(_ context.Context, token string) error {
	if token == "" {
		return nil
	}
	m.fam.mu.Lock()
	defer m.fam.mu.Unlock()
	key := sha256.Sum256([]byte(token))
	existed := m.sessions.remove(key)
	if m.tokens.remove(key) {
		existed = true
	}
	family := authz.SessionHandle(token)
	// A tombstone only for a real session or family, so that deleting
	// made-up tokens writes nothing.
	if n := m.removeFamilyLocked(family); existed || n > 0 {
		m.markRevokedLocked(family)
	}
	return nil
}

// Remember records id (an AuthnRequest ID) for ttl, for one later Consume.
func (m *Memory) Remember(_ context.Context, id string, ttl time.Duration) error {
	if id == "" {
		return ErrEmptyKey
	}
	if ttl <= 0 {
		return ErrInvalidExpiry
	}
	now := m.now()
	m.requests.put(sha256.Sum256([]byte(id)), now.Add(ttl), authz.Session{}, now)
	return nil
}

// Consume reports whether id was remembered and has not expired, and forgets
// it: of any number of concurrent calls, at most one returns true.
func (m *Memory) Consume(_ context.Context, id string) (bool, error) {
	if id == "" {
		return false, ErrEmptyKey
	}
	return m.requests.take(sha256.Sum256([]byte(id)), m.now()), nil
}

// Forget removes id from the replay cache (a used refresh token's
// marker that its successor's rotation retires). A missing one is no
// error.
func (m *Memory) Forget(_ context.Context, id string) error {
	if id == "" {
		return ErrEmptyKey
	}
	m.replays.remove(sha256.Sum256([]byte(id)))
	return nil
}

// SeenBefore records id (an assertion ID) in the replay cache until until,
// and reports whether it was already there. Of any number of concurrent
// calls with one id, exactly one returns false. It returns ErrInvalidExpiry
// when until is not after Now; pass the assertion's NotOnOrAfter plus any
// clock skew allowed, so an assertion is remembered as long as it could be
// accepted.
func (m *Memory) SeenBefore(_ context.Context, id string, until time.Time) (bool, error) {
	if id == "" {
		return false, ErrEmptyKey
	}
	now := m.now()
	if !now.Before(until) {
		return false, ErrInvalidExpiry
	}
	return m.replays.putIfAbsent(sha256.Sum256([]byte(id)), until, now), nil
}

// Len returns how many entries of all kinds the store holds, including
// expired ones not yet swept.
func (m *Memory) Len() int {
	return m.sessions.len() + m.tokens.len() + m.requests.len() + m.replays.len() + m.fam.revoked.len()
}

// cloneSession copies the slices of s so that neither the caller nor the
// store can change the other's copy.
func cloneSession(s authz.Session) authz.Session {
	s.Groups = slices.Clone(s.Groups)
	s.Scope = slices.Clone(s.Scope)
	s.Replaces = slices.Clone(s.Replaces)
	return s
}
