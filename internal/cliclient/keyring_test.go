package cliclient

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/tfgate/tfgate/internal/keyringtest"
)

// TestKeyringStoreGNOME keeps tokens in a real GNOME Keyring over D-Bus:
// auto picks it without a notice; tokens already in tokens.json are read
// and moved into the keyring (the file is removed) on the next write; the
// keyring item holds the tokens and the daemon's files on disk do not show
// them; forgetting the last server deletes the item; "file" still means
// the file.
func TestKeyringStoreGNOME(t *testing.T) {
	keyrings := keyringtest.Start(t)
	t.Setenv(TokenStoreEnv, "")
	dir := filepath.Join(t.TempDir(), "cfg")
	old := NewStore(dir)
	if err := old.save(&File{Servers: map[string]*Entry{"https://old": {AccessToken: "tfg_old_secret", TokenType: "Bearer"}}}); err != nil {
		t.Fatal(err)
	}
	env := Env{ConfigDir: func() (string, error) { return dir, nil }, Keyring: OSKeyring{}}
	var notice bytes.Buffer
	s, err := env.store(&notice)
	if err != nil {
		t.Fatal(err)
	}
	if s.kr == nil || notice.Len() != 0 {
		t.Fatalf("auto with a Secret Service: keyring %v, notice %q; want the keyring, silently", s.kr != nil, notice.String())
	}
	if !strings.Contains(s.Where(), "OS keyring") {
		t.Errorf("Where() = %q", s.Where())
	}
	f, err := s.Load()
	if err != nil || f.Servers["https://old"] == nil {
		t.Fatalf("the keyring store does not read the file's tokens: %v, %+v", err, f)
	}
	err = s.update(t.Context(), func(f *File) error {
		f.Servers["https://x"] = &Entry{AccessToken: "tfg_access_secret", RefreshToken: "tfg_refresh_secret", TokenType: "Bearer"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old.path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("tokens.json is still there after the move to the keyring (%v)", err)
	}
	item, err := keyring.Get(KeyringService, s.account())
	if err != nil {
		t.Fatalf("the keyring item: %v", err)
	}
	for _, tok := range []string{"tfg_old_secret", "tfg_access_secret", "tfg_refresh_secret"} {
		if !strings.Contains(item, tok) {
			t.Errorf("the keyring item lacks %s:\n%s", tok, item)
		}
	}
	// A new store, as the next command would open it, reads both.
	again, err := env.store(nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := again.Load(); err != nil || f.Servers["https://x"].RefreshToken != "tfg_refresh_secret" || f.Servers["https://old"] == nil {
		t.Errorf("reading back: %v, %+v", err, f)
	}
	// The daemon keeps the item encrypted with the keyring's password.
	files, _ := filepath.Glob(filepath.Join(keyrings, "*"))
	if len(files) == 0 {
		t.Fatalf("no keyring files in %s", keyrings)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("tfg_access_secret")) || bytes.Contains(b, []byte("tfg_refresh_secret")) {
			t.Errorf("%s holds a token in the clear", name)
		}
	}
	// "file" is the file, keyring or not.
	env.TokenStore = TokenStoreFile
	if fs, err := env.store(nil); err != nil || fs.kr != nil {
		t.Errorf("--token-store file: keyring %v, %v", fs.kr != nil, err)
	}
	// Forgetting the last server deletes the item.
	err = s.update(t.Context(), func(f *File) error { clear(f.Servers); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Get(KeyringService, s.account()); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the item after forgetting every server: %v, want ErrNotFound", err)
	}
}

// hungKeyring never answers, as a Secret Service waiting for a password.
type hungKeyring struct{ release chan struct{} }

func (k hungKeyring) Get(string, string) (string, error) { <-k.release; return "", keyring.ErrNotFound }
func (k hungKeyring) Set(string, string, string) error   { <-k.release; return nil }
func (k hungKeyring) Delete(string, string) error        { <-k.release; return nil }

// TestTokenStoreChoice: without a session bus, auto is the file with one
// line of notice, and keyring fails saying what to do; $TFGATE_TOKEN_STORE
// chooses when Env.TokenStore does not; an unknown name is refused; a
// keyring that does not answer is given up after keyringProbeTimeout.
func TestTokenStoreChoice(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Setenv(TokenStoreEnv, "")
	dir := t.TempDir()
	env := Env{ConfigDir: func() (string, error) { return dir, nil }, Keyring: OSKeyring{}}

	var notice bytes.Buffer
	s, err := env.store(&notice)
	if err != nil || s.kr != nil {
		t.Fatalf("auto without a bus: keyring %v, %v; want the file", s != nil && s.kr != nil, err)
	}
	if n := strings.Count(notice.String(), "\n"); n != 1 || !strings.Contains(notice.String(), "no OS keyring") ||
		!strings.Contains(notice.String(), filepath.Join(dir, TokenFileName)) {
		t.Errorf("notice = %q; want one line naming the file", notice.String())
	}

	env.TokenStore = TokenStoreKeyring
	if _, err := env.store(nil); err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "--token-store file") {
		t.Errorf("keyring without a bus: %v", err)
	}

	env.TokenStore = ""
	t.Setenv(TokenStoreEnv, TokenStoreFile)
	notice.Reset()
	if s, err := env.store(&notice); err != nil || s.kr != nil || notice.Len() != 0 {
		t.Errorf("$%s=file: keyring %v, notice %q, %v", TokenStoreEnv, s != nil && s.kr != nil, notice.String(), err)
	}
	t.Setenv(TokenStoreEnv, "vault")
	if _, err := env.store(nil); err == nil || !strings.Contains(err.Error(), "want auto, keyring or file") {
		t.Errorf("$%s=vault: %v", TokenStoreEnv, err)
	}

	t.Setenv(TokenStoreEnv, "")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent") // a bus is named, so the keyring is asked
	defer func(d time.Duration) { keyringProbeTimeout = d }(keyringProbeTimeout)
	keyringProbeTimeout = 100 * time.Millisecond
	hung := hungKeyring{make(chan struct{})}
	defer close(hung.release)
	env.Keyring = hung
	notice.Reset()
	start := time.Now()
	s, err = env.store(&notice)
	if err != nil || s.kr != nil || !strings.Contains(notice.String(), "did not answer") {
		t.Errorf("auto with a hung keyring: keyring %v, notice %q, %v", s != nil && s.kr != nil, notice.String(), err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("giving up on a hung keyring took %v", d)
	}
}
