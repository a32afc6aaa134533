// Package kubejwt verifies Kubernetes service-account tokens: the projected
// JWTs a pod gets with a chosen audience, as the RFC 8693 token exchange at
// tfgate's /token presents them.
//
// A token is accepted only when it is a compact JWS signed with RS256 or
// ES256 (never "none", never an HMAC, whatever its header says) by a key
// of the cluster issuer's JWKS named by its "kid", and its "iss" is the
// configured issuer, its "aud" names one of the configured audiences, it
// has an "exp" that has not passed and any "nbf" has come, and its "sub"
// is a service account ("system:serviceaccount:<namespace>:<name>").
//
// The JWKS comes from the issuer's OIDC discovery document, a JWKS URL or
// a file (a ConfigMap holding the output of
// `kubectl get --raw /openid/v1/jwks`). Keys are cached, fetched again
// every Config.Refresh, and at once (at most every Config.MinRefresh) when
// a token names a kid the cache lacks, so a key rotation needs no restart.
// When a refresh fails the cached keys stay in use; with no keys at all,
// Verify returns ErrUnavailable, which callers answer as "try again", not
// as "invalid token".
//
// JWT handling is github.com/go-jose/go-jose/v4's; this package adds the
// key set, the algorithm allow-list and the Kubernetes claims.
package kubejwt
