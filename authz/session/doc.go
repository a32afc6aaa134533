// Package session stores tfgate sessions and the one-time values the SAML
// Service Provider needs, in Redis (Redis, for any number of replicas) or in
// process memory (Memory, for a single replica and for development).
//
// # Tokens and keys
//
// A caller holds an opaque token (NewToken): 256 random bits, base64url,
// prefixed "tfg_". Stores key sessions by Hash(token), a hex SHA-256, so
// whoever can read the store cannot use what is in it. ShortHash(token) is a
// different, domain-separated digest for headers and logs; it is not a prefix
// of the key.
//
// Request IDs and replay-cache IDs are hashed the same way, so an
// attacker-chosen ID can neither make a long key nor steer a Redis Cluster
// hash slot. Keys are namespaced by kind: prefix+"s:"+hash for sessions,
// prefix+"req:"+hash for remembered AuthnRequest IDs and
// prefix+"replay:"+hash for the assertion replay cache. Every key expires.
//
// # Errors
//
// Lookup returns an error wrapping authz.ErrNoSession (ErrNotFound or
// ErrExpired) when the token names no live session. Every other error means
// the store could not answer: Redis is down or slow, or a stored value is
// corrupt (ErrCorrupt). Callers must treat those as "could not decide", which
// fails closed, and never as "anonymous".
//
// # Time
//
// Both stores take a Now function. A session's ExpiresAt is checked against
// it on every Lookup, so a session is never returned after ExpiresAt even if
// the backend still holds it. Redis expiries are set as durations relative to
// Now (PX), so a skewed Redis clock neither shortens nor extends them.
package session
