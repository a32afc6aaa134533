package cliclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		setup   func(*fakeAuthServer)
		timeout time.Duration
		browser func(string) error
		ok      bool
		wantErr error
		want    string // in stderr on success, else in the error
	}{
		"signed in": {
			browser: followAll, ok: true, want: "as alice (groups: ml-engineers)",
		},
		"state mismatch is ignored, not the end of the login": {
			setup: func(f *fakeAuthServer) { f.badState = true }, browser: followAll,
			timeout: 500 * time.Millisecond, want: "no sign-in within 500ms",
		},
		"access denied": {
			setup: func(f *fakeAuthServer) { f.authError = "access_denied" }, browser: followAll,
			want: "the server refused the sign-in: access_denied: the user said no",
		},
		"no browser, nobody signs in": {
			timeout: 300 * time.Millisecond,
			want:    "no sign-in within 300ms",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeAuthServer(t)
			if tc.setup != nil {
				tc.setup(fake)
			}
			env := testEnv(t, &testClock{t: time.Now()}, tc.browser)
			var stderr strings.Builder
			err := Login(t.Context(), LoginOptions{Server: fake.URL() + "/", Timeout: tc.timeout}, &stderr, env)
			store, _ := env.store(nil)
			f, lerr := store.Load()
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tc.ok {
				if err != nil || !strings.Contains(stderr.String(), tc.want) {
					t.Fatalf("login: %v\n%s", err, stderr.String())
				}
				e := f.Servers[fake.URL()]
				if e == nil || !strings.HasPrefix(e.AccessToken, "tfg_") || e.RefreshToken == "" {
					t.Errorf("stored %+v", f.Servers)
				}
				return
			}
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("login: %v, want %v %q", err, tc.wantErr, tc.want)
			}
			if len(f.Servers) != 0 {
				t.Errorf("a failed login stored %+v", f.Servers)
			}
			if !strings.Contains(stderr.String(), authorizePath+"?") {
				t.Errorf("the sign-in URL was not printed:\n%s", stderr.String())
			}
		})
	}
}

// TestLoginAgainRevokesTheOldTokens: a second login replaces the entry,
// and the tokens no longer stored anywhere are ended at the server.
func TestLoginAgainRevokesTheOldTokens(t *testing.T) {
	t.Parallel()
	fake := newFakeAuthServer(t)
	env := testEnv(t, &testClock{t: time.Now()}, followAll)
	store, _ := env.store(nil)
	login := func() *Entry {
		t.Helper()
		if err := Login(t.Context(), LoginOptions{Server: fake.URL()}, io.Discard, env); err != nil {
			t.Fatal(err)
		}
		f, err := store.Load()
		if err != nil {
			t.Fatal(err)
		}
		return f.Servers[fake.URL()]
	}
	first, second := login(), login()
	if first.AccessToken == second.AccessToken {
		t.Fatal("the second login stored the same token")
	}
	_, revoked := fake.snapshot()
	if strings.Join(revoked, " ") != first.RefreshToken+" "+first.AccessToken {
		t.Errorf("revoked %v, want the first login's refresh then access token", revoked)
	}
}

func TestLoginFlags(t *testing.T) {
	t.Parallel()
	env := testEnv(t, &testClock{t: time.Now()}, nil)
	tests := map[string]struct {
		o    LoginOptions
		want string
	}{
		"no server": {LoginOptions{}, "--server URL is required"},
		"not http":  {LoginOptions{Server: "file:///etc/passwd"}, "must be http:// or https://"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := Login(t.Context(), tc.o, io.Discard, env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
}

// TestReceiver checks the loopback listener on its own: only GET
// /callback, only the first answer, and the page is not cacheable.
func TestReceiver(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var gotCode string
	r := newReceiver(t.Context(), ln, "S", "https://x", func(_ context.Context, code string) error {
		gotCode = code
		return nil
	})
	base := "http://" + ln.Addr().String()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("/other?code=c&state=S"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: %d", resp.StatusCode)
	}
	if resp, err := http.Post(base+"/callback?code=c&state=S", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", resp, err)
	}
	// Answers without this login's state (any local page can send the
	// browser here) are refused and end nothing.
	for _, q := range []string{"", "?code=evil", "?error=access_denied", "?code=evil&state=T", "?code=evil&state=S&state=S"} {
		if resp := get("/callback" + q); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("callback%s: %d, want 400", q, resp.StatusCode)
		}
	}
	resp := get("/callback?code=c1&state=S")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("callback: %d %v", resp.StatusCode, resp.Header)
	}
	if again := get("/callback?code=c2&state=S"); again.StatusCode != http.StatusConflict {
		t.Errorf("second answer: %d", again.StatusCode)
	}
	if err := r.wait(t.Context()); err != nil || gotCode != "c1" {
		t.Errorf("wait: %v, code %q", err, gotCode)
	}
	if _, err := http.Get(base + "/callback"); err == nil {
		t.Error("still listening after the sign-in")
	}
}

// TestTokenFileMode is the file a real login leaves: private, in a
// private directory.
func TestTokenFileMode(t *testing.T) {
	t.Parallel()
	fake := newFakeAuthServer(t)
	env := testEnv(t, &testClock{t: time.Now()}, followAll)
	if err := Login(t.Context(), LoginOptions{Server: fake.URL()}, io.Discard, env); err != nil {
		t.Fatal(err)
	}
	store, _ := env.store(nil)
	for path, want := range map[string]os.FileMode{store.dir: 0o700, store.path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}
