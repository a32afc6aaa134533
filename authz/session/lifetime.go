package session

import (
	"fmt"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// defaultTouchInterval is Lifetime.TouchInterval when unset.
const defaultTouchInterval = time.Minute

// Lifetime limits how long sessions live, on top of each session's own
// ExpiresAt. The zero value adds no limit.
type Lifetime struct {
	// Max caps a session's lifetime from the moment it is stored: Create
	// lowers ExpiresAt to Now+Max. The SP already sets ExpiresAt to the
	// sooner of the IdP's SessionNotOnOrAfter and its own maximum; Max is
	// the store's own cap. 0: no cap. default: 0.
	Max time.Duration
	// Idle ends a session that has not been looked up for this long. It
	// slides without a write per request: a store records use at most once
	// per TouchInterval, so a session ends between Idle-TouchInterval and
	// Idle after its last use, never later. It applies to browser
	// sessions only, not to sessions with a Family (the token endpoint's
	// tokens, which programs use at their own pace and which end with
	// their sign-in). 0: no idle timeout. default: 0.
	Idle time.Duration
	// MaxAuthAge ends a session this long after its CreatedAt, the sign-in
	// that asserted its groups, so group membership is never older than
	// this. It is checked on every Lookup, so lowering it applies to
	// sessions already stored. 0: no limit. default: 0.
	MaxAuthAge time.Duration
	// TouchInterval is how often at most a store writes a session's idle
	// deadline. It is clamped to Idle/2. default: 1m.
	TouchInterval time.Duration
}

// check rejects negative durations.
func (l Lifetime) check() error {
	if l.Max < 0 || l.Idle < 0 || l.MaxAuthAge < 0 || l.TouchInterval < 0 {
		return fmt.Errorf("session: negative duration in Lifetime %+v", l)
	}
	return nil
}

// withDefaults fills TouchInterval and clamps it to Idle/2, so that a
// session in use is always touched before it idles out.
func (l Lifetime) withDefaults() Lifetime {
	if l.TouchInterval == 0 {
		l.TouchInterval = defaultTouchInterval
	}
	if l.Idle > 0 {
		l.TouchInterval = min(l.TouchInterval, l.Idle/2)
	}
	return l
}

// atCreate returns s as a store keeps it: CreatedAt filled with now when
// zero, ExpiresAt lowered to every limit. It returns ErrInvalidExpiry when
// s has no ExpiresAt or the result is not after now.
func (l Lifetime) atCreate(s authz.Session, now time.Time) (authz.Session, error) {
	if s.ExpiresAt.IsZero() {
		return s, ErrInvalidExpiry
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if l.Max > 0 {
		s.ExpiresAt = earliest(s.ExpiresAt, now.Add(l.Max))
	}
	s = l.authAge(s)
	if !now.Before(s.ExpiresAt) {
		return s, ErrInvalidExpiry
	}
	return s, nil
}

// atLookup returns s with ExpiresAt lowered to CreatedAt+MaxAuthAge, and
// whether it is live at now.
func (l Lifetime) atLookup(s authz.Session, now time.Time) (authz.Session, bool) {
	s = l.authAge(s)
	return s, now.Before(s.ExpiresAt)
}

func (l Lifetime) authAge(s authz.Session) authz.Session {
	if l.MaxAuthAge > 0 && !s.CreatedAt.IsZero() {
		s.ExpiresAt = earliest(s.ExpiresAt, s.CreatedAt.Add(l.MaxAuthAge))
	}
	return s
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
