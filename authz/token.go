package authz

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
)

// TokenPrefix starts every token NewToken makes, so secret scanners (and
// people) can recognise a leaked tfgate credential.
const TokenPrefix = "tfg_"

// NewToken returns a new opaque credential: TokenPrefix followed by 256 bits
// read from r, in unpadded base64url (47 characters in all). A nil r means
// crypto/rand.Reader. Only its SHA-256 is ever stored.
func NewToken(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("authz: reading random bytes for a token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}
