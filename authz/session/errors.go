package session

import (
	"errors"
	"fmt"

	"github.com/tfgate/tfgate/authz"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotFound means no session is stored for the token. It wraps
	// authz.ErrNoSession.
	ErrNotFound = fmt.Errorf("session: not found: %w", authz.ErrNoSession)
	// ErrExpired means the session's ExpiresAt has passed, whether or not the
	// backend still holds it. It wraps authz.ErrNoSession.
	ErrExpired = fmt.Errorf("session: expired: %w", authz.ErrNoSession)
	// ErrInvalidExpiry means a session without ExpiresAt, or an expiry that
	// is not in the future, was given to a store. Nothing is stored.
	ErrInvalidExpiry = errors.New("session: expiry is missing or not in the future")
	// ErrEmptyKey means an empty token or ID was given to a store method
	// that writes or consumes it.
	ErrEmptyKey = errors.New("session: empty token or ID")
	// ErrCorrupt means a stored value could not be decoded. It does not wrap
	// authz.ErrNoSession: a value we cannot read is a bug, a version skew or
	// tampering, and the caller should fail with an error that operators see
	// rather than treat the caller as signed out.
	ErrCorrupt = errors.New("session: stored value is corrupt")
	// ErrFamilyRevoked means Create was given a session whose Family has
	// been revoked (its sign-in ended, or a reused refresh token or code
	// revoked it), possibly while Create ran. Nothing is stored. It wraps
	// authz.ErrNoSession: the session it would descend from is gone.
	ErrFamilyRevoked = fmt.Errorf("session: family revoked: %w", authz.ErrNoSession)
	// ErrNotReplicated means a write reached the Redis master but fewer
	// replicas than RedisConfig.WaitReplicas acknowledged it in time. The
	// write stands on the master; the caller should treat the operation as
	// failed, since a failover now could lose it.
	ErrNotReplicated = errors.New("session: write not acknowledged by enough replicas")
)
