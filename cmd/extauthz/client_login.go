package main

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

// clientEnv is what the client commands (login, token, logout) take from
// their surroundings. Tests replace parts of it.
type clientEnv struct {
	now       func() time.Time
	rand      io.Reader
	http      *http.Client
	configDir func() (string, error)
	// openURL opens a URL in the user's browser.
	openURL func(string) error
}

func defaultClientEnv() clientEnv {
	return clientEnv{now: time.Now, rand: rand.Reader, http: newHTTPClient(), configDir: defaultConfigDir, openURL: openBrowser}
}

func (e clientEnv) store() (*tokenStore, error) {
	dir, err := e.configDir()
	if err != nil {
		return nil, err
	}
	return &tokenStore{dir: dir}, nil
}

// refreshMargin: a token that expires sooner than this is renewed first,
// so a caller never gets one that dies in flight.
const refreshMargin = time.Minute

// loginCmd signs in through the browser with a loopback redirect (RFC
// 8252) and PKCE (RFC 7636), and stores the tokens for `extauthz token`.
func loginCmd(ctx context.Context, args []string, stderr io.Writer, env clientEnv) error {
	fs := newFlagSet("login", stderr)
	server := fs.String("server", "", "tfgate's URL: the origin in front of Envoy, e.g. https://serving.example.com (required)")
	noBrowser := fs.Bool("no-browser", false, "print the sign-in URL instead of opening a browser")
	scope := fs.String("scope", "", `limit the token, e.g. "model:resnet model:bert:predict" (default: what your groups allow)`)
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the sign-in in the browser")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *server == "" {
		return fmt.Errorf("%w: extauthz login --server URL", errUsage)
	}
	srv, err := normaliseServer(*server)
	if err != nil {
		return err
	}
	store, err := env.store()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(srv, "https://") && !isLoopbackServer(srv) {
		fmt.Fprintf(stderr, "warning: %s is plain HTTP: tokens will cross the network unencrypted\n", srv)
	}
	l := &login{server: srv, scope: normaliseScope(*scope), env: env, store: store, stderr: stderr}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	return l.run(ctx, *noBrowser, *timeout)
}

// login is one run of `extauthz login`.
type login struct {
	server, scope string
	env           clientEnv
	store         *tokenStore
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
	state, err := randomURLString(l.env.rand, 16)
	if err != nil {
		ln.Close()
		return err
	}
	verifier, err := randomURLString(l.env.rand, 32)
	if err != nil {
		ln.Close()
		return err
	}
	oc := &oauthClient{server: l.server, http: l.env.http}
	rcv := newReceiver(ctx, ln, state, l.server, func(ctx context.Context, code string) error {
		return l.finish(ctx, oc, code, redirectURI, verifier)
	})
	l.prompt(authorizeURL(l.server, redirectURI, state, pkceChallenge(verifier), l.scope), noBrowser, timeout)
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
		if err := l.env.openURL(authURL); err != nil {
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
	var old *tokenEntry
	err = l.store.update(ctx, func(f *tokenFile) error {
		old = f.Servers[l.server]
		f.Servers[l.server] = &tokenEntry{
			AccessToken: tr.AccessToken, TokenType: "Bearer", ExpiresAt: expiry(l.env.now(), tr.ExpiresIn),
			RefreshToken: tr.RefreshToken, Scope: tr.Scope,
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
	f, err := l.store.load()
	if err != nil || f.Servers[l.server] == nil {
		return
	}
	e := f.Servers[l.server]
	who := ""
	if id, ok := oc.whoami(ctx, e.AccessToken); ok {
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
		l.server, who, scope, l.store.path())
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
