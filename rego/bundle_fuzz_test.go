package rego

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadBundle feeds arbitrary bytes (a bundle comes over the network) to
// the bundle reader with verification on: it must not panic, and it must
// accept nothing but the one signed seed (nobody can forge the signature).
func FuzzReadBundle(f *testing.F) {
	key := newSigningKey(f)
	dir := grantDir(f, "resnet")
	signed := buildBundle(f, dir, "s1", key)
	f.Add(signed)
	f.Add(buildBundle(f, dir, "u1", signingKey{}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	v := Verification{Keys: map[string]VerificationKey{"team": {Key: key.public, Algorithm: "ES256"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := readBundle(bytes.NewReader(data), "fuzz", v)
		if err != nil {
			if !errors.Is(err, ErrLoad) && !errors.Is(err, ErrVerification) && !errors.Is(err, ErrConfig) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if !bytes.Equal(data, signed) && files.revision != "s1" {
			t.Fatalf("accepted an unsigned or forged bundle (revision %q)", files.revision)
		}
	})
}
