package cliclient

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// signedIn logs in to a fake server and returns the env, its store and
// the clock.
func signedIn(t *testing.T, fake *fakeAuthServer) (Env, *Store, *testClock) {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	env := testEnv(t, clk, followAll)
	if err := Login(t.Context(), LoginOptions{Server: fake.URL()}, io.Discard, env); err != nil {
		t.Fatal(err)
	}
	store, _ := env.store(nil)
	return env, store, clk
}

func entryOf(t *testing.T, store *Store, server string) *Entry {
	t.Helper()
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	return f.Servers[server]
}

// runToken runs `extauthz token` and returns stdout and stderr.
func runToken(t *testing.T, env Env, o TokenOptions) (string, string, error) {
	t.Helper()
	var out, errOut strings.Builder
	err := Token(t.Context(), o, &out, &errOut, env)
	return out.String(), errOut.String(), err
}

func TestTokenRefresh(t *testing.T) {
	t.Parallel()
	fake := newFakeAuthServer(t)
	env, store, clk := signedIn(t, fake)
	login := entryOf(t, store, fake.URL())

	// Fresh: printed as is, and only it, with no request to the server.
	out, _, err := runToken(t, env, TokenOptions{})
	if err != nil || out != login.AccessToken+"\n" {
		t.Fatalf("fresh token: %q %v", out, err)
	}
	if reqs, _ := fake.snapshot(); len(reqs) != 1 {
		t.Fatalf("%d token requests, want only the login's", len(reqs))
	}

	// 59 minutes later it has less than a minute left: renewed, and the
	// rotated refresh token stored.
	clk.Add(59*time.Minute + time.Second)
	out, _, err = runToken(t, env, TokenOptions{Server: fake.URL()})
	renewed := entryOf(t, store, fake.URL())
	if err != nil || out != renewed.AccessToken+"\n" || renewed.AccessToken == login.AccessToken {
		t.Fatalf("renewal: %q %v (stored %+v)", out, err, renewed)
	}
	if renewed.RefreshToken == login.RefreshToken || !renewed.ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Errorf("after renewal: %+v", renewed)
	}
	reqs, _ := fake.snapshot()
	if last := reqs[len(reqs)-1]; last.Get("grant_type") != "refresh_token" || last.Get("refresh_token") != login.RefreshToken || last.Has("scope") {
		t.Errorf("renewal request %v", last)
	}
}

// TestTokenScope: a narrower token comes from the refresh grant with a
// scope, is cached beside the login's token, and leaves it in place.
func TestTokenScope(t *testing.T) {
	t.Parallel()
	fake := newFakeAuthServer(t)
	env, store, _ := signedIn(t, fake)
	login := entryOf(t, store, fake.URL())

	out, _, err := runToken(t, env, TokenOptions{Scope: "model:other"})
	e := entryOf(t, store, fake.URL())
	scoped := e.Scoped["model:other"]
	if err != nil || scoped == nil || out != scoped.AccessToken+"\n" {
		t.Fatalf("scoped token: %q %v %+v", out, err, e)
	}
	if e.AccessToken != login.AccessToken || e.RefreshToken == login.RefreshToken {
		t.Errorf("the login's access token must stay and the refresh token rotate: %+v", e)
	}
	reqs, _ := fake.snapshot()
	if last := reqs[len(reqs)-1]; last.Get("scope") != "model:other" {
		t.Errorf("scoped request %v", last)
	}
	// Asked again (scope written differently): the cached one, no request.
	if again, _, err := runToken(t, env, TokenOptions{Scope: " model:other "}); again != out || err != nil {
		t.Errorf("again: %q %v", again, err)
	}
	if now, _ := fake.snapshot(); len(now) != len(reqs) {
		t.Error("a cached scoped token was renewed")
	}
	// And the full token is still the login's.
	if full, _, _ := runToken(t, env, TokenOptions{}); full != login.AccessToken+"\n" {
		t.Errorf("full token %q", full)
	}
}

func TestTokenFailures(t *testing.T) {
	t.Parallel()
	t.Run("revoked sign-in", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		fake.mu.Lock()
		clear(fake.refresh)
		fake.mu.Unlock()
		clk.Add(2 * time.Hour)
		out, _, err := runToken(t, env, TokenOptions{})
		var se *signInError
		if out != "" || !errors.As(err, &se) || err.Error() != "the sign-in to "+fake.URL()+" has expired or was revoked (signed out in the browser, or revoked by an administrator): run `extauthz login --server "+fake.URL()+"`" {
			t.Errorf("%q %v", out, err)
		}
		if entryOf(t, store, fake.URL()) == nil {
			t.Error("the entry was dropped; logout does that")
		}
	})
	t.Run("store unavailable, token still valid", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		fake.mu.Lock()
		fake.unavailable = true
		fake.mu.Unlock()
		clk.Add(59*time.Minute + 30*time.Second)
		out, errOut, err := runToken(t, env, TokenOptions{})
		if err != nil || out != entryOf(t, store, fake.URL()).AccessToken+"\n" || !strings.Contains(errOut, "temporarily_unavailable") {
			t.Errorf("%q %q %v", out, errOut, err)
		}
	})
	t.Run("server down, token still valid", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		fake.srv.Close()
		clk.Add(59*time.Minute + 30*time.Second)
		out, errOut, err := runToken(t, env, TokenOptions{})
		if err != nil || out != entryOf(t, store, fake.URL()).AccessToken+"\n" || !strings.Contains(errOut, "warning: renewing the token") {
			t.Errorf("%q %q %v", out, errOut, err)
		}
		clk.Add(time.Minute)
		if out, _, err := runToken(t, env, TokenOptions{}); out != "" || err == nil || !strings.Contains(err.Error(), "could not reach") {
			t.Errorf("expired and unreachable: %q %v", out, err)
		}
	})
}

func TestTokenChoosesTheServer(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Now()}
	env := testEnv(t, clk, followAll)
	if _, _, err := runToken(t, env, TokenOptions{}); err == nil || err.Error() != "not signed in: run `extauthz login --server URL`" {
		t.Errorf("no servers: %v", err)
	}
	if _, _, err := runToken(t, env, TokenOptions{Server: "https://x.example/"}); err == nil ||
		err.Error() != "not signed in to https://x.example: run `extauthz login --server https://x.example`" {
		t.Errorf("unknown server: %v", err)
	}
	a, b := newFakeAuthServer(t), newFakeAuthServer(t)
	for _, f := range []*fakeAuthServer{a, b} {
		if err := Login(t.Context(), LoginOptions{Server: f.URL()}, io.Discard, env); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runToken(t, env, TokenOptions{}); err == nil || !strings.Contains(err.Error(), "signed in to several servers") {
		t.Errorf("two servers: %v", err)
	}
	if out, _, err := runToken(t, env, TokenOptions{Server: b.URL()}); err != nil || out == "" {
		t.Errorf("--server: %q %v", out, err)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	t.Run("revokes and forgets", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, _ := signedIn(t, fake)
		if _, _, err := runToken(t, env, TokenOptions{Scope: "model:m"}); err != nil {
			t.Fatal(err)
		}
		e := entryOf(t, store, fake.URL())
		var stderr strings.Builder
		if err := Logout(t.Context(), "", &stderr, env); err != nil || !strings.Contains(stderr.String(), "tokens revoked and forgotten") {
			t.Fatalf("%v %s", err, stderr.String())
		}
		_, revoked := fake.snapshot()
		want := []string{e.RefreshToken, e.AccessToken, e.Scoped["model:m"].AccessToken}
		if strings.Join(revoked, " ") != strings.Join(want, " ") {
			t.Errorf("revoked %v, want %v", revoked, want)
		}
		if entryOf(t, store, fake.URL()) != nil {
			t.Error("entry not forgotten")
		}
		if _, _, err := runToken(t, env, TokenOptions{Server: fake.URL()}); err == nil || !strings.Contains(err.Error(), "not signed in to") {
			t.Errorf("token after logout: %v", err)
		}
	})
	t.Run("server down: forgets and says so", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, _ := signedIn(t, fake)
		fake.srv.Close()
		var stderr strings.Builder
		err := Logout(t.Context(), fake.URL(), &stderr, env)
		if !errors.Is(err, ErrReported) || !strings.Contains(stderr.String(), "could not revoke them") ||
			!strings.Contains(stderr.String(), "stays valid until") {
			t.Errorf("%v %s", err, stderr.String())
		}
		if entryOf(t, store, fake.URL()) != nil {
			t.Error("entry not forgotten")
		}
	})
}

// TestTokenNeverPrintsADeadToken: a token the server revoked (a sign-out in
// the browser, `extauthz sessions revoke`) is found out within
// verifyAfter and replaced, or reported when the whole sign-in is gone;
// within verifyAfter of the last check the server is not asked.
func TestTokenNeverPrintsADeadToken(t *testing.T) {
	t.Parallel()
	whoamis := func(f *fakeAuthServer) int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.whoamis
	}
	t.Run("checked recently: no request", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		before := whoamis(fake)
		clk.Add(verifyAfter - time.Second)
		out, _, err := runToken(t, env, TokenOptions{})
		if err != nil || out != entryOf(t, store, fake.URL()).AccessToken+"\n" || whoamis(fake) != before {
			t.Errorf("%q %v, whoami requests %d -> %d", out, err, before, whoamis(fake))
		}
	})
	t.Run("alive: checked once, then trusted for verifyAfter", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		before := whoamis(fake)
		clk.Add(verifyAfter + time.Second)
		for range 3 {
			if out, _, err := runToken(t, env, TokenOptions{}); err != nil || out != entryOf(t, store, fake.URL()).AccessToken+"\n" {
				t.Fatalf("%q %v", out, err)
			}
		}
		if whoamis(fake) != before+1 {
			t.Errorf("whoami requests %d -> %d, want one", before, whoamis(fake))
		}
	})
	t.Run("access token revoked: renewed", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		old := entryOf(t, store, fake.URL()).AccessToken
		fake.mu.Lock()
		delete(fake.access, old)
		fake.mu.Unlock()
		clk.Add(verifyAfter + time.Second)
		out, _, err := runToken(t, env, TokenOptions{})
		now := entryOf(t, store, fake.URL())
		if err != nil || out == old+"\n" || out != now.AccessToken+"\n" {
			t.Errorf("printed %q (%v), old %q, stored %q", out, err, old, now.AccessToken)
		}
	})
	t.Run("whole sign-in revoked: reported, nothing printed", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, _, clk := signedIn(t, fake)
		fake.mu.Lock()
		clear(fake.access)
		clear(fake.refresh)
		fake.mu.Unlock()
		clk.Add(verifyAfter + time.Second)
		out, _, err := runToken(t, env, TokenOptions{})
		var se *signInError
		if out != "" || !errors.As(err, &se) || !strings.Contains(err.Error(), "run `extauthz login --server") {
			t.Errorf("%q %v", out, err)
		}
	})
	t.Run("scoped token revoked: renewed", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, _, clk := signedIn(t, fake)
		first, _, err := runToken(t, env, TokenOptions{Scope: "model:m"})
		if err != nil {
			t.Fatal(err)
		}
		fake.mu.Lock()
		delete(fake.access, strings.TrimSpace(first))
		fake.mu.Unlock()
		clk.Add(verifyAfter + time.Second)
		second, _, err := runToken(t, env, TokenOptions{Scope: "model:m"})
		if err != nil || second == first || second == "" {
			t.Errorf("first %q, second %q (%v)", first, second, err)
		}
	})
	t.Run("server cannot say: the token is printed with a warning", func(t *testing.T) {
		t.Parallel()
		fake := newFakeAuthServer(t)
		env, store, clk := signedIn(t, fake)
		fake.srv.Close()
		clk.Add(verifyAfter + time.Second)
		out, errOut, err := runToken(t, env, TokenOptions{})
		if err != nil || out != entryOf(t, store, fake.URL()).AccessToken+"\n" || !strings.Contains(errOut, "could not check the token") {
			t.Errorf("%q %q %v", out, errOut, err)
		}
	})
}
