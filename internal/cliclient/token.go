package cliclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// TokenOptions are the flags of `extauthz token`.
type TokenOptions struct {
	Server string // the server signed in to (optional when there is only one)
	Scope  string // a narrower token (default: the login's scope)
}

// Token prints a valid access token on stdout and nothing else, renewing
// it first when it expires within refreshMargin, so that
// `curl -H "Authorization: Bearer $(extauthz token)"` works.
func Token(ctx context.Context, o TokenOptions, stdout, stderr io.Writer, env Env) error {
	store, err := env.store(nil)
	if err != nil {
		return err
	}
	srv, err := chooseServer(store, o.Server)
	if err != nil {
		return err
	}
	t := &tokenGetter{server: srv, scope: normaliseScope(o.Scope), env: env, stderr: stderr,
		oc: &oauthClient{server: srv, http: env.HTTP}}
	tok, err := t.get(ctx, store)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// chooseServer returns the normalised --server, or the only server signed
// in to when there is no flag.
func chooseServer(store *Store, flag string) (string, error) {
	if flag != "" {
		return normaliseServer(flag)
	}
	f, err := store.Load()
	if err != nil {
		return "", err
	}
	switch s := f.servers(); len(s) {
	case 0:
		return "", errors.New("not signed in: run `extauthz login --server URL`")
	case 1:
		return s[0], nil
	default:
		return "", fmt.Errorf("signed in to several servers (%s): pass --server", strings.Join(s, ", "))
	}
}

// tokenGetter finds or renews one server's token.
type tokenGetter struct {
	server, scope string
	env           Env
	oc            *oauthClient
	stderr        io.Writer
}

// fresh reports whether a token expiring at t is good for refreshMargin.
func (t *tokenGetter) fresh(expiresAt time.Time) bool {
	return t.env.Now().Add(refreshMargin).Before(expiresAt)
}

// stored is one access token in the file and what is known of it.
type stored struct {
	token                string
	expiresAt, checkedAt time.Time
}

// current returns the stored token for t.scope, and whether it is fresh
// (not about to expire).
func (t *tokenGetter) current(e *Entry) (stored, bool) {
	if t.scope == "" || t.scope == normaliseScope(e.Scope) {
		return stored{e.AccessToken, e.ExpiresAt, e.CheckedAt}, t.fresh(e.ExpiresAt)
	}
	if st := e.Scoped[t.scope]; st != nil {
		return stored{st.AccessToken, st.ExpiresAt, st.CheckedAt}, t.fresh(st.ExpiresAt)
	}
	return stored{}, false
}

// markChecked records that tok was alive at the time now.
func (t *tokenGetter) markChecked(e *Entry, tok string, now time.Time) {
	if e.AccessToken == tok {
		e.CheckedAt = now
	}
	for _, st := range e.Scoped {
		if st.AccessToken == tok {
			st.CheckedAt = now
		}
	}
}

// get returns a fresh token that is not known to be dead: one the server
// vouched for within verifyAfter, else one it vouches for now, else a new
// one. Renewing happens under the store's lock; a concurrent command may
// have renewed meanwhile, so the file is read again under the lock before
// the refresh token is spent.
func (t *tokenGetter) get(ctx context.Context, store *Store) (string, error) {
	f, err := store.Load()
	if err != nil {
		return "", err
	}
	e := f.Servers[t.server]
	if e == nil {
		return "", t.notSignedIn()
	}
	dead := ""
	if cur, ok := t.current(e); ok {
		if t.env.Now().Sub(cur.checkedAt) < verifyAfter {
			return cur.token, nil
		}
		switch err := t.verify(ctx, cur.token); {
		case err == nil:
			now := t.env.Now()
			// Best effort: a failure to record it only means asking again.
			_ = store.update(ctx, func(f *File) error {
				if e := f.Servers[t.server]; e != nil {
					t.markChecked(e, cur.token, now)
				}
				return nil
			})
			return cur.token, nil
		case errors.Is(err, errTokenDead):
			dead = cur.token
		default:
			// The server could not say: the token is as good as it was.
			fmt.Fprintf(t.stderr, "extauthz: warning: could not check the token with %s (%v); it expires at %s\n",
				t.server, err, cur.expiresAt.Local().Format(time.RFC3339))
			return cur.token, nil
		}
	}
	var tok string
	err = store.update(ctx, func(f *File) error {
		e := f.Servers[t.server]
		if e == nil {
			return t.notSignedIn()
		}
		if cur, ok := t.current(e); ok && cur.token != dead {
			tok = cur.token // another command renewed it meanwhile
			return nil
		}
		var rerr error
		tok, rerr = t.renew(ctx, e)
		return rerr
	})
	if err != nil {
		if dead != "" {
			return "", err // never the token the server just called dead
		}
		return t.fallback(e, err)
	}
	return tok, nil
}

// verify asks the server whether tok is alive (bounded: a slow server
// must not hang every script that calls `extauthz token`).
func (t *tokenGetter) verify(ctx context.Context, tok string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := t.oc.whoami(ctx, tok)
	return err
}

// renew spends e's refresh token and records what the server sent: the
// rotated refresh token always, and the new access token in the entry's
// main slot or, for a narrower scope, beside it (the login's token stays).
func (t *tokenGetter) renew(ctx context.Context, e *Entry) (string, error) {
	if e.RefreshToken == "" {
		return "", &signInError{server: t.server, why: "the sign-in to " + t.server + " has expired"}
	}
	narrower := t.scope != "" && t.scope != normaliseScope(e.Scope)
	scope := ""
	if narrower {
		scope = t.scope
	}
	tr, err := t.oc.refresh(ctx, e.RefreshToken, scope)
	var oe *oauthError
	switch {
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		return "", &signInError{server: t.server, why: "the sign-in to " + t.server + " has expired or was revoked (signed out in the browser, or revoked by an administrator)"}
	case errors.As(err, &oe) && oe.Code == "invalid_scope":
		return "", fmt.Errorf("%s refused the scope %q (%v)", t.server, t.scope, oe)
	case err != nil:
		return "", fmt.Errorf("renewing the token for %s: %w", t.server, err)
	}
	if tr.RefreshToken != "" {
		e.RefreshToken = tr.RefreshToken
	}
	exp := expiry(t.env.Now(), tr.ExpiresIn)
	if narrower {
		if e.Scoped == nil {
			e.Scoped = map[string]*ScopedToken{}
		}
		e.Scoped[t.scope] = &ScopedToken{AccessToken: tr.AccessToken, ExpiresAt: exp, CheckedAt: t.env.Now()}
	} else {
		e.AccessToken, e.ExpiresAt, e.CheckedAt = tr.AccessToken, exp, t.env.Now()
		if tr.Scope != "" {
			e.Scope = tr.Scope
		}
	}
	t.dropExpired(e)
	return tr.AccessToken, nil
}

// dropExpired forgets expired scoped tokens, so the file does not grow.
func (t *tokenGetter) dropExpired(e *Entry) {
	for s, st := range e.Scoped {
		if !t.env.Now().Before(st.ExpiresAt) {
			delete(e.Scoped, s)
		}
	}
}

// fallback is what get does when renewing failed: a token that has not
// expired yet is still printed, with a warning, when the server could not
// be reached, could not answer or asked to slow down (the rotation rate
// cap); a refused renewal is an error.
func (t *tokenGetter) fallback(e *Entry, err error) (string, error) {
	var oe *oauthError
	var se *signInError
	refused := errors.As(err, &oe) && oe.Code != "temporarily_unavailable" && oe.Code != "server_error" && oe.Code != "slow_down"
	cur, _ := t.current(e)
	if refused || errors.As(err, &se) || cur.token == "" || !t.env.Now().Before(cur.expiresAt) {
		return "", err
	}
	fmt.Fprintf(t.stderr, "extauthz: warning: %v; using the current token, which expires at %s\n", err, cur.expiresAt.Local().Format(time.RFC3339))
	return cur.token, nil
}

func (t *tokenGetter) notSignedIn() error {
	return &signInError{server: t.server, why: "not signed in to " + t.server}
}

// signInError is a failure only a new `extauthz login` mends; its message
// says so in one line.
type signInError struct {
	server, why string
}

func (e *signInError) Error() string {
	return fmt.Sprintf("%s: run `extauthz login --server %s`", e.why, e.server)
}

// Logout revokes a server's tokens and forgets them. They are forgotten
// even when the server cannot be reached, which is reported (ErrReported:
// the tokens stay valid on the server until they expire). server is
// optional when there is only one.
func Logout(ctx context.Context, server string, stderr io.Writer, env Env) error {
	store, err := env.store(nil)
	if err != nil {
		return err
	}
	srv, err := chooseServer(store, server)
	if err != nil {
		return err
	}
	var e *Entry
	err = store.update(ctx, func(f *File) error {
		e = f.Servers[srv]
		delete(f.Servers, srv)
		return nil
	})
	if err != nil {
		return err
	}
	if e == nil {
		fmt.Fprintf(stderr, "Not signed in to %s: nothing to do.\n", srv)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := revokeEntry(rctx, &oauthClient{server: srv, http: env.HTTP}, e); err != nil {
		fmt.Fprintf(stderr, "Forgot the tokens for %s on this machine, but could not revoke them (%v): "+
			"the access token stays valid until %s.\n", srv, err, e.ExpiresAt.Local().Format(time.RFC3339))
		return ErrReported
	}
	fmt.Fprintf(stderr, "Signed out of %s: tokens revoked and forgotten.\n", srv)
	return nil
}

// revokeEntry revokes the refresh token first (so no new access token can
// be made from it), then every access token. It tries them all and
// returns the first error.
func revokeEntry(ctx context.Context, oc *oauthClient, e *Entry) error {
	var first error
	try := func(tok, hint string) {
		if tok == "" {
			return
		}
		if err := oc.revoke(ctx, tok, hint); err != nil && first == nil {
			first = err
		}
	}
	try(e.RefreshToken, "refresh_token")
	try(e.AccessToken, "access_token")
	for _, st := range e.Scoped {
		try(st.AccessToken, "access_token")
	}
	return first
}
