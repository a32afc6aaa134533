package rego

import "errors"

// Sentinel errors callers branch on with errors.Is. Shape errors in a
// decision wrap authz.ErrInvalidDecision instead, so the authorizer needs to
// know only one sentinel for "the policy answered nonsense".
var (
	// ErrConfig means the Config is invalid (a bad query, a negative interval).
	ErrConfig = errors.New("rego: invalid configuration")
	// ErrLoad means the policy files could not be read or parsed as data.
	ErrLoad = errors.New("rego: cannot load policy")
	// ErrCompile means the policy modules do not parse or compile, or the
	// query cannot be prepared against them.
	ErrCompile = errors.New("rego: policy does not compile")
	// ErrEvaluation means evaluating the query failed (a conflict between
	// rules, a cancelled context, a failing built-in in strict mode).
	ErrEvaluation = errors.New("rego: policy evaluation failed")
	// ErrVerification means a bundle's signature is missing, does not
	// verify with the configured keys, or does not cover its files.
	ErrVerification = errors.New("rego: bundle signature verification failed")
	// ErrInvalidInput means an input document given to EvalInput is not of
	// the documented shape.
	ErrInvalidInput = errors.New("rego: invalid input document")
)
