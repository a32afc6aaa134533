package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
)

// A session is stored sealed: AES-256-GCM under a key derived from the
// token, so that whoever reads Redis (a dump, a backup, a MONITOR) learns
// neither a usable token (the key name is its SHA-256) nor who the session
// belongs to. Only a caller presenting the token can open it.
//
// The format is one version byte, a 12-byte random nonce, then the GCM
// ciphertext and tag. The additional data is the token's hex SHA-256 (the
// key name's hash), so a value copied to another key does not open.
const (
	sealVersion = 1
	// sealInfo is HKDF's info: it binds the key to this use and version.
	sealInfo    = "tfgate session seal v1"
	sealKeySize = 32 // AES-256
	nonceSize   = 12
	sealHeader  = 1 + nonceSize
)

// sealKey derives the AES key from the token with HKDF-SHA256. Tokens carry
// 256 random bits, so no salt is needed to extract a uniform key.
func sealKey(token string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(token), nil, sealInfo, sealKeySize)
}

// aeadCacheSize bounds the AEADs kept by aeadFor: about 1 KiB each, so
// 4 MiB at most. It covers the tokens in use at once on a busy replica;
// past it, sessions still open, each paying the derivation again.
const aeadCacheSize = 4096

// aeads keeps the AEAD of recently used tokens by their hex SHA-256, so a
// Redis lookup does not derive the key (HKDF) and expand the AES schedule
// on every Check: that was 20 of a lookup's 58 allocations and a tenth of
// its CPU. Keeping a derived key in memory exposes nothing the session
// cache does not already hold in the clear, and a hash names one token.
var aeads = aeadCache{m: make(map[string]cipher.AEAD)}

type aeadCache struct {
	mu sync.RWMutex
	m  map[string]cipher.AEAD
}

// aeadFor returns the AEAD of token, whose hex SHA-256 is hash (callers pass
// refOf(token).hash; the cache trusts it). GCM is safe
// for concurrent use.
func aeadFor(token, hash string) (cipher.AEAD, error) {
	aeads.mu.RLock()
	a, ok := aeads.m[hash]
	aeads.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, err := newAEAD(token)
	if err != nil {
		return nil, err
	}
	aeads.mu.Lock()
	if len(aeads.m) >= aeadCacheSize {
		// Full: drop an arbitrary entry (map order is randomised), which
		// an attacker cannot aim at another user's token.
		for k := range aeads.m {
			delete(aeads.m, k)
			break
		}
	}
	aeads.m[hash] = a
	aeads.mu.Unlock()
	return a, nil
}

func newAEAD(token string) (cipher.AEAD, error) {
	key, err := sealKey(token)
	if err != nil {
		return nil, err
	}
	return aeadOfKey(key)
}

// aeadOfKey is AES-256-GCM under key.
func aeadOfKey(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain for the session of token, whose hex SHA-256 is hash,
// with a nonce read from rand.
func seal(token, hash string, plain []byte, rand io.Reader) ([]byte, error) {
	aead, err := aeadFor(token, hash)
	if err != nil {
		return nil, fmt.Errorf("session: sealing: %w", err)
	}
	return sealWith(aead, hash, plain, rand)
}

// sealWith is seal with the AEAD given and ad as the additional data (the
// metadata records' use, meta.go).
func sealWith(aead cipher.AEAD, ad string, plain []byte, rand io.Reader) ([]byte, error) {
	out := make([]byte, sealHeader, sealHeader+len(plain)+aead.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(rand, out[1:sealHeader]); err != nil {
		return nil, fmt.Errorf("session: sealing: reading a nonce: %w", err)
	}
	return aead.Seal(out, out[1:sealHeader], plain, []byte(ad)), nil
}

// unseal opens a value sealed for token and hash. Anything that does not
// open, whatever the reason, is ErrCorrupt.
func unseal(token, hash string, sealed []byte) ([]byte, error) {
	if len(sealed) < sealHeader || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: not a sealed session", ErrCorrupt)
	}
	aead, err := aeadFor(token, hash)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return openWith(aead, hash, sealed)
}

// openWith opens a value sealed by sealWith with this AEAD and ad. Anything
// that does not open is ErrCorrupt.
func openWith(aead cipher.AEAD, ad string, sealed []byte) ([]byte, error) {
	if len(sealed) < sealHeader || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: not a sealed value", ErrCorrupt)
	}
	plain, err := aead.Open(nil, sealed[1:sealHeader], sealed[sealHeader:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return plain, nil
}
