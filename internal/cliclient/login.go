package cliclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Env is what the client commands (login, token, logout) take from
// their surroundings. Tests replace parts of it.
type Env struct {
	Now       func() time.Time
	Rand      io.Reader
	HTTP      *http.Client
	ConfigDir func() (string, error)
	// OpenURL opens a URL in the user's browser.
	OpenURL func(string) error
	// TokenStore is where tokens are kept: TokenStoreAuto, TokenStoreKeyring
	// or TokenStoreFile; "": $TFGATE_TOKEN_STORE, else auto.
	TokenStore string
	// Keyring is the OS keyring; nil: none.
	Keyring Keyring
}

// DefaultEnv is the real clock, randomness, network, config directory
// and browser.
func DefaultEnv() Env {
	return Env{Now: time.Now, Rand: rand.Reader, HTTP: newHTTPClient(), ConfigDir: DefaultConfigDir, OpenURL: openBrowser, Keyring: OSKeyring{}}
}

// ErrReported is a failure the command has already explained on stderr.
var ErrReported = errors.New("failed")

// refreshMargin: a token that expires sooner than this is renewed first,
// so a caller never gets one that dies in flight.
const refreshMargin = time.Minute

// verifyAfter: a stored token last known alive longer ago than this is
// checked with the server before it is printed, so a token revoked by a
// sign-out in the browser or `extauthz sessions revoke` is replaced (or
// reported) instead of printed. One request every half minute at most.
const verifyAfter = 30 * time.Second

// LoginOptions are the flags of `extauthz login`.
type LoginOptions struct {
	Server    string        // tfgate's URL (required)
	Scope     string        // limit the token (default: what the user's groups allow)
	NoBrowser bool          // print the sign-in URL instead of opening a browser
	Timeout   time.Duration // how long to wait for the sign-in (default 5 minutes)
}

// Login signs in through the browser with a loopback redirect (RFC 8252)
// and PKCE (RFC 7636), and stores the tokens for Token.
func Login(ctx context.Context, o LoginOptions, stderr io.Writer, env Env) error {
	if o.Server == "" {
		return errors.New("--server URL is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	srv, err := normaliseServer(o.Server)
	if err != nil {
		return err
	}
	store, err := env.store(stderr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(srv, "https://") && !isLoopbackServer(srv) {
		fmt.Fprintf(stderr, "warning: %s is plain HTTP: tokens will cross the network unencrypted\n", srv)
	}
	l := &login{server: srv, scope: normaliseScope(o.Scope), env: env, store: store, stderr: stderr}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return l.run(ctx, o.NoBrowser, o.Timeout)
}

// login is one run of `extauthz login`.
type login struct {
	server, scope string
	env           Env
	store         *Store
	stderr        io.Writer
}

func (l *login) run(ctx context.Context, noBrowser bool, timeout time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening for the sign-in's redirect: %w", err)
	}
	redirectURI, err := loopbackRedirectURI(ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	state, err := randomURLString(l.env.Rand, 16)
	if err != nil {
		ln.Close()
		return err
	}
	verifier, err := randomURLString(l.env.Rand, 32)
	if err != nil {
		ln.Close()
		return err
	}
	oc := &oauthClient{server: l.server, http: l.env.HTTP}
	rcv := newReceiver(ctx, ln, state, l.server, func(ctx context.Context, code string) error {
		return l.finish(ctx, oc, code, redirectURI, verifier)
	})
	l.prompt(oc.authorizeURL(redirectURI, state, verifier, l.scope), noBrowser, timeout)
	if err := rcv.wait(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no sign-in within %v: run `extauthz login --server %s` again", timeout, l.server)
		}
		return err
	}
	l.report(ctx, oc)
	return nil
}

// prompt opens the browser, or says where to go; the URL is printed either
// way, for when no browser opens.
func (l *login) prompt(authURL string, noBrowser bool, timeout time.Duration) {
	if noBrowser {
		fmt.Fprintf(l.stderr, "To sign in to %s, open this URL in a browser on this machine:\n\n    %s\n\n", l.server, authURL)
	} else {
		fmt.Fprintf(l.stderr, "Opening a browser to sign in to %s. If none opens, visit this URL on this machine:\n\n    %s\n\n", l.server, authURL)
		if err := l.env.OpenURL(authURL); err != nil {
			fmt.Fprintf(l.stderr, "(could not open a browser: %v)\n", err)
		}
	}
	fmt.Fprintf(l.stderr, "Waiting for the sign-in (up to %v; Ctrl-C to cancel)...\n", timeout)
}

// finish exchanges the code and stores the tokens; the callback page
// reports its result.
func (l *login) finish(ctx context.Context, oc *oauthClient, code, redirectURI, verifier string) error {
	tr, err := oc.exchange(ctx, code, redirectURI, verifier)
	if err != nil {
		return fmt.Errorf("exchanging the sign-in code: %w", err)
	}
	var old *Entry
	err = l.store.update(ctx, func(f *File) error {
		old = f.Servers[l.server]
		f.Servers[l.server] = &Entry{
			AccessToken: tr.AccessToken, TokenType: "Bearer", ExpiresAt: expiry(l.env.Now(), tr.ExpiresIn),
			RefreshToken: tr.RefreshToken, Scope: tr.Scope, CheckedAt: l.env.Now(),
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storing the tokens: %w", err)
	}
	if old != nil {
		// The previous sign-in's tokens are no longer stored anywhere:
		// end them rather than leave them valid. Best effort.
		revokeEntry(ctx, oc, old)
	}
	return nil
}

// report says who signed in, asking the server (best effort).
func (l *login) report(ctx context.Context, oc *oauthClient) {
	f, err := l.store.Load()
	if err != nil || f.Servers[l.server] == nil {
		return
	}
	e := f.Servers[l.server]
	who := ""
	if id, err := oc.whoami(ctx, e.AccessToken); err == nil {
		who = " as " + id.Subject
		if len(id.Groups) > 0 {
			who += " (groups: " + strings.Join(id.Groups, ", ") + ")"
		}
	}
	scope := "everything your groups allow"
	if e.Scope != "" {
		scope = e.Scope
	}
	fmt.Fprintf(l.stderr, "Signed in to %s%s.\nToken scope: %s. It is renewed by `extauthz token`; stored in %s.\n",
		l.server, who, scope, l.store.Where())
}

// expiry is when a token issued at now for expiresIn seconds expires.
func expiry(now time.Time, expiresIn int64) time.Time {
	return now.Add(time.Duration(expiresIn) * time.Second).UTC().Truncate(time.Second)
}

// openBrowser opens url with the platform's opener, without waiting for
// the browser.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; xdg-open returns once the browser is asked
	return nil
}
