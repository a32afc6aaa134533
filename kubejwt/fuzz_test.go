package kubejwt

import (
	"context"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify: attacker-chosen tokens never panic, and never verify unless
// they are the one valid token the issuer signed.
func FuzzVerify(f *testing.F) {
	is := newIssuer(f)
	v := newVerifier(f, is, nil)
	valid := is.sign(f, jose.RS256, "rsa-1", validClaims())
	f.Add(valid)
	f.Add(is.sign(f, jose.ES256, "ec-1", validClaims()))
	f.Add(hs256WithPublicKey(f, &is.rsaKey.PublicKey, validClaims()))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		sa, err := v.Verify(context.Background(), tok)
		if err == nil && (tok != valid && sa.Subject != testSubject) {
			t.Fatalf("verified a token the issuer did not sign: %q", tok)
		}
	})
}
