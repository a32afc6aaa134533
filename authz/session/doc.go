// Package session stores tfgate sessions and the one-time values the SAML
// Service Provider needs, in Redis (Redis, for any number of replicas:
// standalone, Sentinel or Cluster) or in process memory (Memory, for a
// single replica and for development), and caches them for the Check path
// (Cached).
//
// # Tokens and keys
//
// A caller holds an opaque token (NewToken): 256 random bits, base64url,
// prefixed "tfg_". Stores key sessions by Hash(token), a hex SHA-256, so
// whoever can read the store cannot use what is in it. authz.SessionHandle(token)
// (authz.SessionHandle) is a different, domain-separated digest for headers
// and logs, the "handle".
//
// Every Redis key starts with the prefix (default "tfgate:") and expires:
//
//	s:{handle}:hash   a session, sealed (below); TTL its end, or its idle deadline
//	h:{handle}        the session's token hash, for revocation by handle
//	u:hash(subject)   revocation index: sorted set of "handle:hash" of a subject's sessions
//	g:hash(group)     revocation index: the same for a group's members
//	f:hash(family)    revocation index: the same for a family (below)
//	fx:hash(family)   a revoked family's tombstone, for two minutes after the revocation
//	req:hash(id)      a one-time ID (Remember/Consume: a CLI authorization code's)
//	replay:hash(id)   a used ID (SeenBefore): an assertion ID, an answered
//	                  AuthnRequest ID, a used refresh token's record ref
//
// (AuthnRequest IDs are not remembered at /saml/login: the SP carries them
// in a sealed cookie, so an anonymous login writes nothing.)
//
// and invalidations are published on prefix+"invalidate". Request and
// assertion IDs are hashed too, so an attacker-chosen ID can neither make a
// long key nor steer a Redis Cluster hash slot. The {handle} hash tag puts
// a session and its handle key in one Cluster slot, so they are written in
// order on one connection (and WAITed for together) and deleted together;
// no other operation spans keys, so nothing else needs a shared slot. A new
// kind whose keys must change together (a refresh-token family, say) must
// share a hash tag the same way. Index hashes are domain-separated SHA-256s
// of the names: a dump reveals no name, though, being unkeyed, it would
// confirm a guessed one.
//
// # Families
//
// The token endpoint stores its access tokens, refresh tokens and
// authorization codes as sessions too, each with a Family naming what it
// descends from (authz.Session.Family): "ROOT/GRANT" is one grant (a code
// and its refresh chain) of the browser session whose handle is ROOT, and
// belongs to family ROOT as well. Deleting a session also revokes the
// family named by its handle, so signing out of a browser session (or
// revoking it by handle) ends every token minted from it; RevokeFamily
// revokes one family, a grant say, directly. Revoking a family writes a tombstone
// first and Create checks it after storing a family member, so a token
// minted concurrently with the revocation cannot survive it (family.go).
// Sessions with a Family have no idle timeout: they end at their own
// ExpiresAt (which the token endpoint bounds by the sign-in's end) or with
// their family. Discard deletes family members by ref (authz.TokenRef),
// taking them out of their indexes without revoking anything, and Forget
// drops a replay-cache ID: refresh rotation uses both to retire what it
// replaced, so a grant's keys and index members stay O(1). In the memory
// store, family members live in a pool of their own, apart from browser
// sessions.
//
// # Sealing
//
// A session's value is AES-256-GCM ciphertext under a key derived from the
// token with HKDF-SHA256, with the token's hash as additional data (seal.go):
// only a caller presenting the token can read or forge it, and a value
// moved to another key does not open.
//
// # Lifetime
//
// A session ends at the earliest of its ExpiresAt, Create's Now plus
// Lifetime.Max, and its CreatedAt plus Lifetime.MaxAuthAge (checked on every
// Lookup), and when unused for Lifetime.Idle. In Redis the idle deadline is
// the key's TTL, extended at most once per TouchInterval, not on every
// request.
//
// # Revocation and caching
//
// Deleting or revoking a session publishes its hash after the delete;
// every replica's Cached drops it at once. Cached trusts nothing it did not
// hear invalidations for: it caches only while subscribed, clears itself on
// every (re)subscription, and keeps an entry no longer than its TTL. Each
// message carries its publish time ("t=" Unix microseconds, last), from
// which Redis.ObserveInvalidationLag reports the lag; messages without
// it, from older replicas, invalidate just the same.
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
// Stores take a Now function. A session's ExpiresAt is checked against it
// on every Lookup, so a session is never returned after ExpiresAt even if
// the backend still holds it. Redis expiries are set as durations relative to
// Now (PX), so a skewed Redis clock neither shortens nor extends them.
package session
