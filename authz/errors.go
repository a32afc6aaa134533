package authz

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNoSession means the credential names no live session (unknown,
	// expired or revoked). It is a normal outcome, not a failure.
	ErrNoSession = errors.New("authz: no such session")
	// ErrAmbiguousCredential means the request carries more than one
	// credential (a cookie and a bearer token, or two of either).
	ErrAmbiguousCredential = errors.New("authz: ambiguous credential")
	// ErrMalformedCredential means an Authorization header or cookie that is
	// present but cannot be a tfgate credential.
	ErrMalformedCredential = errors.New("authz: malformed credential")
	// ErrInvalidDecision means the policy answered something other than one
	// decision object of the documented shape.
	ErrInvalidDecision = errors.New("authz: policy returned an invalid decision")
	// ErrNotReplayable means a decision-log record was not decided by the
	// policy (refused earlier, or not decided at all), so there is nothing
	// to ask a policy again.
	ErrNotReplayable = errors.New("authz: decision not made by the policy")
)
