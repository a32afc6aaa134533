package session

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNewToken(t *testing.T) {
	t.Parallel()
	tok, err := NewToken(bytes.NewReader(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if want := "tfg_" + strings.Repeat("A", 43); tok != want {
		t.Errorf("NewToken(zeros) = %q, want %q", tok, want)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
	if err != nil || len(raw) != 32 {
		t.Errorf("token body decodes to %d bytes, %v; want 32", len(raw), err)
	}

	a, _ := NewToken(nil)
	b, _ := NewToken(nil)
	if a == b || !strings.HasPrefix(a, TokenPrefix) {
		t.Errorf("NewToken(nil) = %q, %q; want distinct %s tokens", a, b, TokenPrefix)
	}
}

func TestNewTokenShortRead(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for name, r := range map[string]interface{ Read([]byte) (int, error) }{
		"error": iotest.ErrReader(boom),
		"short": bytes.NewReader(make([]byte, 31)),
	} {
		if tok, err := NewToken(r); err == nil || tok != "" {
			t.Errorf("%s: NewToken = %q, %v; want an error", name, tok, err)
		}
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	// echo -n abc | sha256sum
	if got, want := Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Hash(abc) = %s, want %s", got, want)
	}
}

func TestShortHash(t *testing.T) {
	t.Parallel()
	tok := "tfg_" + strings.Repeat("x", 43)
	short := ShortHash(tok)
	if len(short) != 16 || strings.Trim(short, "0123456789abcdef") != "" {
		t.Errorf("ShortHash = %q, want 16 lowercase hex characters", short)
	}
	if strings.HasPrefix(Hash(tok), short) {
		t.Error("ShortHash is a prefix of Hash; it must be domain-separated")
	}
	if ShortHash(tok) != short || ShortHash(tok+"y") == short {
		t.Error("ShortHash must be deterministic and differ between tokens")
	}
}
