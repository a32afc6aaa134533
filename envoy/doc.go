// Package envoy is tfgate's edge towards Envoy: the ext_authz v3 gRPC
// server, the translation between Envoy's CheckRequest/CheckResponse and the
// plain values of package authz, and tfgate's HTTP listener (health,
// readiness, metrics, and the SAML and token endpoints mounted on it).
//
// request.go and response.go are the only places that know Envoy's protos;
// response.go is the one table that turns a Decision or an error into what
// Envoy does.
package envoy
