package cliclient

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/zalando/go-keyring"
)

// Token stores: where `extauthz login` keeps tokens.
const (
	// TokenStoreEnv is the default of --token-store.
	TokenStoreEnv = "TFGATE_TOKEN_STORE"
	// TokenStoreAuto is the OS keyring when one answers, else the file.
	TokenStoreAuto    = "auto"
	TokenStoreKeyring = "keyring"
	TokenStoreFile    = "file"
	// KeyringService is the service name of the keyring item; its account
	// is the config directory's absolute path.
	KeyringService = "tfgate"
)

// keyringProbeTimeout bounds the check that a keyring answers: a Secret
// Service that waits for someone to type a password must not hang a
// script's `extauthz token`. Tests shorten it.
var keyringProbeTimeout = 3 * time.Second

// Keyring is the part of the OS keyring the store uses: the API of
// github.com/zalando/go-keyring (Keychain on macOS, Credential Manager on
// Windows, the Secret Service over D-Bus elsewhere, e.g. GNOME Keyring or
// KWallet). Get returns keyring.ErrNotFound for a missing item.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// OSKeyring is the OS keyring.
type OSKeyring struct{}

func (OSKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (OSKeyring) Set(service, user, secret string) error   { return keyring.Set(service, user, secret) }
func (OSKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

// account names the store's keyring item: its directory, absolute.
func (s *Store) account() string {
	if abs, err := filepath.Abs(s.dir); err == nil {
		return abs
	}
	return s.dir
}

// saveKeyring writes data to the keyring item (or deletes the item when no
// server is left), then removes tokens.json: after a move from the file to
// the keyring, tokens must not stay behind in it.
func (s *Store) saveKeyring(f *File, data []byte) error {
	var err error
	if len(f.Servers) == 0 {
		if err = s.kr.Delete(KeyringService, s.account()); errors.Is(err, keyring.ErrNotFound) {
			err = nil
		}
	} else {
		err = s.kr.Set(KeyringService, s.account(), string(data))
	}
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return fmt.Errorf("the tokens do not fit in the OS keyring's item (%w): use --token-store file", err)
	}
	if err != nil {
		return fmt.Errorf("writing the tokens to the OS keyring: %w (--token-store file keeps them in %s instead)", err, s.path())
	}
	if err := os.Remove(s.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the tokens are in the OS keyring, but the old token file stays: %w", err)
	}
	return nil
}

// store opens the token store that Env.TokenStore (else $TFGATE_TOKEN_STORE,
// else auto) names. With auto and no keyring answering, it is the file,
// and notice, when not nil, hears one line saying so.
func (e Env) store(notice io.Writer) (*Store, error) {
	dir, err := e.ConfigDir()
	if err != nil {
		return nil, err
	}
	mode := e.TokenStore
	if mode == "" {
		mode = os.Getenv(TokenStoreEnv)
	}
	switch mode {
	case TokenStoreFile:
		return NewStore(dir), nil
	case TokenStoreKeyring, TokenStoreAuto, "":
		err := keyringAnswers(e.Keyring, NewKeyringStore(dir, e.Keyring))
		if err == nil {
			return NewKeyringStore(dir, e.Keyring), nil
		}
		if mode == TokenStoreKeyring {
			return nil, fmt.Errorf("token store keyring: the OS keyring does not answer: %w (--token-store file keeps tokens in a file)", err)
		}
		s := NewStore(dir)
		if notice != nil {
			fmt.Fprintf(notice, "extauthz: no OS keyring (%v); tokens are kept in %s, readable by you only\n", err, s.path())
		}
		return s, nil
	default:
		return nil, fmt.Errorf("token store %q (--token-store or $%s): want auto, keyring or file", mode, TokenStoreEnv)
	}
}

// keyringAnswers reports why kr cannot be used, or nil. On D-Bus systems
// it first checks that there is a session bus to ask, so that no bus is
// started on a machine without one (D-Bus would autolaunch one), then asks
// for the store's item with a timeout.
func keyringAnswers(kr Keyring, s *Store) error {
	if kr == nil {
		return errors.New("none configured")
	}
	if runtime.GOOS != "darwin" && runtime.GOOS != "windows" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		bus := filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "bus")
		if fi, err := os.Stat(bus); os.Getenv("XDG_RUNTIME_DIR") == "" || err != nil || fi.Mode().Type() != fs.ModeSocket {
			return errors.New("no D-Bus session bus for a Secret Service: $DBUS_SESSION_BUS_ADDRESS is unset")
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := kr.Get(KeyringService, s.account())
		if errors.Is(err, keyring.ErrNotFound) {
			err = nil
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(keyringProbeTimeout):
		return fmt.Errorf("it did not answer within %v (a locked keyring waiting for its password?)", keyringProbeTimeout)
	}
}
