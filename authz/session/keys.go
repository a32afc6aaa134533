package session

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// kind namespaces what a store holds.
type kind uint8

const (
	kindSession kind = iota // a session, by token hash
	kindRequest             // a remembered AuthnRequest ID (Remember, Consume)
	kindReplay              // an assertion ID in the replay cache (SeenBefore)
)

// kindPrefixes are the Redis key segments of each kind.
var kindPrefixes = [...]string{
	kindSession: "s:",
	kindRequest: "req:",
	kindReplay:  "replay:",
}

// redisKey returns prefix + kind + hex SHA-256 of raw in one allocation,
// since it runs on every lookup.
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
