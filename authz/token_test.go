package authz

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
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

func TestSessionHandle(t *testing.T) {
	t.Parallel()
	tok := "tfg_" + strings.Repeat("x", 43)
	short := SessionHandle(tok)
	if len(short) != 16 || strings.Trim(short, "0123456789abcdef") != "" {
		t.Errorf("SessionHandle = %q, want 16 lowercase hex characters", short)
	}
	if strings.HasPrefix(fmt.Sprintf("%x", sha256.Sum256([]byte(tok))), short) {
		t.Error("SessionHandle is a prefix of the SHA-256 stores key by; it must be domain-separated")
	}
	if SessionHandle(tok) != short || SessionHandle(tok+"y") == short {
		t.Error("SessionHandle must be deterministic and differ between tokens")
	}
}
