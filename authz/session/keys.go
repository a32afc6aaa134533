package session

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/tfgate/tfgate/authz"
)

// kind namespaces what a store holds.
type kind uint8

const (
	kindSession kind = iota // a session: "s:{handle}:" + token hash
	kindHandle              // handle -> token hash: "h:{handle}"
	kindRequest             // a remembered AuthnRequest ID (Remember, Consume)
	kindReplay              // an assertion ID in the replay cache (SeenBefore)
	kindSubject             // the sessions of one subject (a sorted set)
	kindGroup               // the sessions of one group (a sorted set)
	kindFamily              // the sessions of one family (a sorted set)
	kindRevoked             // a revoked family's tombstone
	kindSAML                // the sessions of one IdP sign-in (a sorted set, slo.go)
	kindMeta                // a session's metadata record: "m:{handle}" (meta.go)
)

// kindPrefixes are the Redis key segments of each kind, after the prefix.
var kindPrefixes = [...]string{
	kindSession: "s:",
	kindHandle:  "h:",
	kindRequest: "req:",
	kindReplay:  "replay:",
	kindSubject: "u:",
	kindGroup:   "g:",
	kindFamily:  "f:",
	kindRevoked: "fx:",
	kindSAML:    "sl:",
	kindMeta:    "m:",
}

// Domain separators of the index hashes, so that a subject and a group
// with the same name, or either and a token, never share a digest.
const (
	subjectDomain = "tfgate subject\x00"
	groupDomain   = "tfgate group\x00"
	familyDomain  = "tfgate family\x00"
)

// redisKey returns prefix + kind + hex SHA-256 of raw in one allocation,
// for the kinds keyed by a plain digest.
func redisKey(prefix string, k kind, raw string) string {
	sum := sha256.Sum256([]byte(raw))
	var hexSum [2 * sha256.Size]byte
	hex.Encode(hexSum[:], sum[:])
	kp := kindPrefixes[k]
	var b strings.Builder
	b.Grow(len(prefix) + len(kp) + len(hexSum))
	b.WriteString(prefix)
	b.WriteString(kp)
	b.Write(hexSum[:])
	return b.String()
}

// ref names one stored session without its token: the hex SHA-256 of the
// token (Hash) and its handle (authz.SessionHandle). Index members and
// invalidation messages carry refs, so revocation never needs a token.
type ref struct {
	hash   string
	handle string
}

func refOf(token string) ref {
	return ref{hash: Hash(token), handle: authz.SessionHandle(token)}
}

// member is how an index holds a ref: "handle:hash".
func (r ref) member() string { return r.handle + ":" + r.hash }

// parseMember undoes member; ok is false for anything else.
func parseMember(m string) (r ref, ok bool) {
	h, kh, found := strings.Cut(m, ":")
	if !found || !isHex(h, handleLen) || !isHex(kh, hashLen) {
		return ref{}, false
	}
	return ref{hash: kh, handle: h}, true
}

// Lengths of the hex strings in a ref.
const (
	hashLen   = 2 * sha256.Size
	handleLen = 16
)

// IsHandle reports whether s has the shape of a session handle
// (authz.SessionHandle): 16 lowercase hex digits.
func IsHandle(s string) bool { return isHex(s, handleLen) }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sessionKey is prefix+"s:{handle}:"+hash. The handle is a hash tag, so in a
// Redis Cluster the session and its handle key share a slot: one DEL
// removes both, and one connection writes both in order (and can WAIT for
// them).
func sessionKey(prefix string, r ref) string {
	return prefix + kindPrefixes[kindSession] + "{" + r.handle + "}:" + r.hash
}

// handleKey is prefix+"h:{handle}", in the slot of the session it names.
func handleKey(prefix, handle string) string {
	return prefix + kindPrefixes[kindHandle] + "{" + handle + "}"
}

// subjectKey and groupKey are the revocation indexes: sorted sets of the
// members of a subject's or a group's sessions, named by a domain-separated
// hash of the name so that a dump holds no names.
func subjectKey(prefix, subject string) string {
	return redisKey(prefix, kindSubject, subjectDomain+subject)
}

func groupKey(prefix, group string) string {
	return redisKey(prefix, kindGroup, groupDomain+group)
}

// familyKey is the revocation index of a family (authz.Session.Family):
// the sessions minted from one sign-in. revokedKey is the family's
// tombstone, written before its sessions are deleted, so that a session
// created in the family meanwhile sees it (see Redis.Create).
func familyKey(prefix, family string) string {
	return redisKey(prefix, kindFamily, familyDomain+family)
}

func revokedKey(prefix, family string) string {
	return redisKey(prefix, kindRevoked, familyDomain+family)
}

// channel is the pub/sub channel of invalidations.
func channel(prefix string) string { return prefix + "invalidate" }
