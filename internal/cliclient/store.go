package cliclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/zalando/go-keyring"
)

// The token file of `extauthz login`: one entry per server, in the user's
// config directory, readable by the user only.
const (
	TokenFileName = "tokens.json"
	// ConfigDirEnv overrides where the token file lives.
	ConfigDirEnv = "TFGATE_CONFIG_DIR"
	// tokenFileVersion is written to every file; a newer one is refused
	// rather than rewritten without the fields this binary does not know.
	tokenFileVersion = 1
	// lockWait is how long a command waits for another one holding the
	// file's lock (a refresh in flight); lockStale is when a lock left by
	// a killed process is taken over.
	lockWait  = 15 * time.Second
	lockStale = 30 * time.Second
)

// File is the JSON of tokens.json.
type File struct {
	Version int               `json:"version"`
	Servers map[string]*Entry `json:"servers"`
}

// Entry is what one server issued: the access and refresh tokens of
// the login, and narrower access tokens asked for with --scope, by scope.
type Entry struct {
	AccessToken  string                  `json:"access_token"`
	TokenType    string                  `json:"token_type"`
	ExpiresAt    time.Time               `json:"expires_at"`
	RefreshToken string                  `json:"refresh_token,omitempty"`
	Scope        string                  `json:"scope,omitempty"`
	Scoped       map[string]*ScopedToken `json:"scoped,omitempty"`
	// CheckedAt is when the server last said AccessToken was alive (it
	// was issued, or /saml/whoami accepted it).
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// ScopedToken is an access token for a narrower scope than the login's.
type ScopedToken struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
	CheckedAt   time.Time `json:"checked_at,omitzero"`
}

// servers returns the file's server URLs, sorted.
func (f *File) servers() []string {
	out := make([]string, 0, len(f.Servers))
	for s := range f.Servers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Store keeps the tokens of `extauthz login`: the JSON of File, in the OS
// keyring when kr is set (keyring.go), else in tokens.json in dir. The
// lock file (update) is in dir either way.
type Store struct {
	dir string
	kr  Keyring
}

// NewStore is the token file in dir.
func NewStore(dir string) *Store { return &Store{dir: dir} }

// NewKeyringStore keeps the tokens in kr, under an item named by dir (so
// each $TFGATE_CONFIG_DIR has its own), with its lock file in dir.
func NewKeyringStore(dir string, kr Keyring) *Store { return &Store{dir: dir, kr: kr} }

// Where says where the tokens are kept, for messages.
func (s *Store) Where() string {
	if s.kr != nil {
		return fmt.Sprintf("the OS keyring (service %q, account %q)", KeyringService, s.account())
	}
	return s.path()
}

// DefaultConfigDir is $TFGATE_CONFIG_DIR, or tfgate in the user's config
// directory (~/.config/tfgate on Linux).
func DefaultConfigDir() (string, error) {
	if d := os.Getenv(ConfigDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config directory (set $%s): %w", ConfigDirEnv, err)
	}
	return filepath.Join(d, "tfgate"), nil
}

func (s *Store) path() string { return filepath.Join(s.dir, TokenFileName) }

// Load reads the tokens; none stored is an empty File. A file others can
// read is refused, as ssh refuses such a key: its tokens may have leaked.
// A keyring store with no item yet reads tokens.json, if any: tokens
// stored before the keyring was used, which the next save moves there.
func (s *Store) Load() (*File, error) {
	if s.kr != nil {
		data, err := s.kr.Get(KeyringService, s.account())
		if errors.Is(err, keyring.ErrNotFound) {
			return s.loadFile()
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tokens from the OS keyring: %w (--token-store file keeps them in %s instead)", err, s.path())
		}
		return s.decode([]byte(data), "the OS keyring's item "+s.account())
	}
	return s.loadFile()
}

func (s *Store) loadFile() (*File, error) {
	data, err := os.ReadFile(s.path())
	if errors.Is(err, fs.ErrNotExist) {
		return &File{Version: tokenFileVersion, Servers: map[string]*Entry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the token file: %w", err)
	}
	if err := checkPrivate(s.path()); err != nil {
		return nil, err
	}
	return s.decode(data, s.path())
}

func (s *Store) decode(data []byte, where string) (*File, error) {
	f := &File{Version: tokenFileVersion, Servers: map[string]*Entry{}}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("%s is not a token file (%v): delete it and sign in again", where, err)
	}
	if f.Version > tokenFileVersion {
		return nil, fmt.Errorf("%s was written by a newer extauthz (version %d)", where, f.Version)
	}
	if f.Servers == nil {
		f.Servers = map[string]*Entry{}
	}
	return f, nil
}

// checkPrivate refuses a file with any group or other permission bit.
// Windows reports no such bits, so it is not checked there.
func checkPrivate(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reading the token file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is accessible to other users (mode %04o): run `chmod 600 %s`, and sign in again if they may have read it",
			path, perm, path)
	}
	return nil
}

// save replaces the file atomically: a new file (mode 0600) written,
// synced and renamed over the old one, so a reader sees one or the other
// and a crash leaves no half-written tokens. The directory is created
// with mode 0700.
func (s *Store) save(f *File) error {
	f.Version = tokenFileVersion
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if s.kr != nil {
		return s.saveKeyring(f, data)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("creating the config directory: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, TokenFileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if err := writeSynced(tmp, append(data, '\n')); err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path()); err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	return nil
}

// writeSynced makes f private, writes data, syncs and closes it.
func writeSynced(f *os.File, data []byte) error {
	err := f.Chmod(0o600) // CreateTemp's 0600 already; umask cannot widen it, but be explicit
	if _, werr := f.Write(data); err == nil {
		err = werr
	}
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// update runs fn on the file under the store's lock and saves what fn
// leaves, unless fn fails. Commands that refresh do the refresh inside
// fn, so two `extauthz token` at once do not both spend the same
// (rotating) refresh token.
func (s *Store) update(ctx context.Context, fn func(f *File) error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := s.Load()
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		return err
	}
	return s.save(f)
}

// lock takes tokens.json.lock, a file created exclusively (portable,
// unlike flock). A lock older than lockStale was left by a process that
// died holding it and is taken over.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the config directory: %w", err)
	}
	path := s.path() + ".lock"
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking the token file: %w", err)
		}
		if fi, serr := os.Stat(path); serr == nil && time.Since(fi.ModTime()) > lockStale {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("another extauthz holds %s; if none is running, delete it", path)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
