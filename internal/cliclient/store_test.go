package cliclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := &Store{dir: filepath.Join(t.TempDir(), "a", "tfgate")}
	f, err := s.Load()
	if err != nil || len(f.Servers) != 0 {
		t.Fatalf("missing file: %v %v", f, err)
	}
	exp := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	f.Servers["https://x"] = &Entry{AccessToken: "tfg_a", TokenType: "Bearer", ExpiresAt: exp, RefreshToken: "r",
		Scoped: map[string]*ScopedToken{"model:m": {AccessToken: "tfg_b", ExpiresAt: exp}}}
	if err := s.save(f); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := got.Servers["https://x"]
	if e == nil || e.AccessToken != "tfg_a" || !e.ExpiresAt.Equal(exp) || e.RefreshToken != "r" || e.Scoped["model:m"].AccessToken != "tfg_b" {
		t.Errorf("round trip: %+v", e)
	}
	for path, want := range map[string]os.FileMode{s.dir: 0o700, s.path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	// The atomic write leaves no temporary file behind.
	if ents, _ := os.ReadDir(s.dir); len(ents) != 1 {
		t.Errorf("directory holds %v", ents)
	}
}

func TestTokenStoreRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"readable by others": {`{"version":1,"servers":{}}`, 0o644, "accessible to other users (mode 0644)"},
		"not JSON":           {`tokens`, 0o600, "is not a token file"},
		"newer version":      {`{"version":9,"servers":{}}`, 0o600, "newer extauthz"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := &Store{dir: t.TempDir()}
			if err := os.WriteFile(s.path(), []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(s.path(), tc.mode) // past the umask
			if _, err := s.Load(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("load: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestTokenStoreUpdateSerialises runs updates at once: the lock makes each
// see the previous one's write, so no increment is lost.
func TestTokenStoreUpdateSerialises(t *testing.T) {
	t.Parallel()
	s := &Store{dir: t.TempDir()}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := s.update(t.Context(), func(f *File) error {
				e := f.Servers["https://x"]
				if e == nil {
					e = &Entry{}
					f.Servers["https://x"] = e
				}
				e.AccessToken += "x"
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := s.Load()
	if err != nil || f.Servers["https://x"].AccessToken != "xxxxxxxx" {
		t.Fatalf("after 8 updates: %+v %v", f.Servers["https://x"], err)
	}
	if _, err := os.Stat(s.path() + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock left behind: %v", err)
	}
}

func TestTokenStoreStaleLock(t *testing.T) {
	t.Parallel()
	s := &Store{dir: t.TempDir()}
	lock := s.path() + ".lock"
	if err := os.WriteFile(lock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * lockStale)
	if err := os.Chtimes(lock, old, old); err != nil {
		t.Fatal(err)
	}
	if err := s.update(t.Context(), func(*File) error { return nil }); err != nil {
		t.Fatalf("a stale lock was not taken over: %v", err)
	}
}

func TestTokenStoreFailedUpdateWritesNothing(t *testing.T) {
	t.Parallel()
	s := &Store{dir: t.TempDir()}
	boom := errors.New("boom")
	err := s.update(t.Context(), func(f *File) error {
		f.Servers["https://x"] = &Entry{AccessToken: "a"}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed update wrote the file: %v", err)
	}
}

func TestDefaultConfigDir(t *testing.T) {
	t.Setenv(ConfigDirEnv, "/some/where")
	if d, err := DefaultConfigDir(); d != "/some/where" || err != nil {
		t.Errorf("with $%s: %q %v", ConfigDirEnv, d, err)
	}
	t.Setenv(ConfigDirEnv, "")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	t.Setenv("HOME", "/home/u")
	if d, err := DefaultConfigDir(); d != "/xdg/tfgate" || err != nil {
		t.Errorf("default: %q %v", d, err)
	}
}
