// Package rego is tfgate's policy adapter: it implements authz.Policy with
// OPA's Rego engine.
//
// An Evaluator loads a policy directory (or the policies embedded from
// policies/), compiles it once, prepares the decision query once, and then
// evaluates each request by turning the typed authz.Input into an OPA value
// directly, without a JSON round trip. The decision must be exactly one object
// {"allow": bool, "reason": string} with optional "status" and "headers";
// anything else is an error wrapping authz.ErrInvalidDecision, never a verdict.
//
// Policies can be hot reloaded: Reload recompiles on demand and Watch polls the
// directory. A reload that fails (a syntax error, a data conflict, a decision
// of the wrong shape) keeps the last good policy.
//
// RunTests runs a policy directory's _test.rego files the way `opa test` does,
// and EvalInput evaluates one JSON input document, for `extauthz policy test`
// and `extauthz policy eval`.
//
// The package never logs except in Watch, through the logger it is given, and
// never logs input.
package rego
