package session

import (
	"testing"
)

func TestHash(t *testing.T) {
	t.Parallel()
	// echo -n abc | sha256sum
	if got, want := Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Hash(abc) = %s, want %s", got, want)
	}
}
