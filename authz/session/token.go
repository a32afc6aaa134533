package session

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/tfgate/tfgate/authz"
)

// TokenPrefix starts every token NewToken makes.
const TokenPrefix = authz.TokenPrefix

// NewToken returns a new opaque token; see authz.NewToken.
func NewToken(r io.Reader) (string, error) { return authz.NewToken(r) }

// Hash returns the hex SHA-256 of token. Stores key sessions by it; it is
// never shown to users or written to logs (use ShortHash there).
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ShortHash returns 16 hex characters that identify token in the
// x-tfgate-session header and in logs. It is a domain-separated SHA-256, so
// it is not a prefix of Hash(token) and cannot be used to find the key.
// It is the same handle the Check path puts in x-tfgate-session, so logs of
// the store and decisions can be matched.
func ShortHash(token string) string { return authz.SessionHandle(token) }
