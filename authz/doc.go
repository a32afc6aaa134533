// Package authz holds tfgate's domain: the request Envoy asked about, the
// caller's session, the policy input and the decision, the small interfaces
// the adapters implement (SessionStore, Policy), credential extraction, and
// the Check pipeline that ties them together.
//
// Nothing here knows about gRPC, Envoy protos, Redis or OPA. Adapters import
// this package for its types; this package imports only authz/tfserving.
//
// The pipeline's contract: a deny is a Decision with Allow false; an error
// means "could not decide" (the session store or the policy failed) and the
// caller must never turn it into an allow.
package authz
