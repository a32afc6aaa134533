package session

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/tfgate/tfgate/authz"
)

// TokenPrefix starts every token NewToken makes. It lets secret scanners
// and humans recognise a tfgate credential; cookies use the same tokens.
const TokenPrefix = "tfg_"

// tokenBytes is the token's entropy: 256 bits.
const tokenBytes = 32

// NewToken returns a new opaque token: TokenPrefix followed by 256 bits read
// from r, in unpadded base64url (47 characters in all). A nil r means
// crypto/rand.Reader; tests pass their own for deterministic tokens.
func NewToken(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [tokenBytes]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("session: reading random bytes for a token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

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
