package session

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/tfgate/tfgate/authz"
)

// TestAEADCache: sealing and opening through the AEAD cache gives what the
// derivation gives, the cache stays within aeadCacheSize however many
// tokens pass, and a value sealed for one token still opens for no other.
func TestAEADCache(t *testing.T) {
	tokens := make([]string, aeadCacheSize+500)
	for i := range tokens {
		tok, err := authz.NewToken(nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	sealed := make([][]byte, len(tokens))
	for i, tok := range tokens {
		b, err := seal(tok, Hash(tok), []byte("session "+tok[:8]), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		sealed[i] = b
	}
	aeads.mu.RLock()
	n := len(aeads.m)
	aeads.mu.RUnlock()
	if n > aeadCacheSize {
		t.Fatalf("AEAD cache holds %d entries, bound %d", n, aeadCacheSize)
	}
	for i, tok := range tokens {
		// Opened with a freshly derived AEAD: the cache held the right key.
		fresh, err := newAEAD(tok)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := fresh.Open(nil, sealed[i][1:sealHeader], sealed[i][sealHeader:], []byte(Hash(tok)))
		if err != nil || string(plain) != "session "+tok[:8] {
			t.Fatalf("token %d: sealed through the cache does not open with the derived key: %v", i, err)
		}
		// And through the cache, cached or evicted.
		if plain, err := unseal(tok, Hash(tok), sealed[i]); err != nil || string(plain) != "session "+tok[:8] {
			t.Fatalf("token %d: unseal = %q, %v", i, plain, err)
		}
		// Another token's value never opens, cached or not.
		other := (i + 1) % len(tokens)
		if _, err := unseal(tok, Hash(tok), sealed[other]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("token %d opened token %d's value: %v", i, other, err)
		}
	}
}

// TestUnsealCachedAllocates: a token seen before opens without deriving
// its key again (the derivation alone was about 20 allocations).
func TestUnsealCachedAllocates(t *testing.T) {
	tok, _ := authz.NewToken(nil)
	hash := Hash(tok)
	b, err := seal(tok, hash, []byte("x"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := unseal(tok, hash, b); err != nil {
			t.Fatal(err)
		}
	}); n > 2 {
		t.Errorf("unseal of a cached token allocates %.0f times, want at most 2", n)
	}
}
