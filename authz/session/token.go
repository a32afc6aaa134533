package session

import (
	"crypto/sha256"
	"encoding/hex"
)

// Hash returns the hex SHA-256 of token. Stores key sessions by it; it is
// never shown to users or written to logs (use authz.SessionHandle there).
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
