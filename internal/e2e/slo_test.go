package e2e

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// cookieStatus makes a browser navigation to the model with only the
// session cookie value, through Envoy, and returns the status (200 when
// the session is accepted, a redirect to sign in when not).
func (s *samlStack) cookieStatus(t *testing.T, value string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+modelURL, nil)
	req.Header.Set("Accept", "text/html")
	req.AddCookie(&http.Cookie{Name: samlCookie, Value: value})
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// sessionCookie returns the value of b's session cookie at the stack.
func (s *samlStack) sessionCookie(t *testing.T, b *samlBrowser) string {
	t.Helper()
	u, _ := url.Parse(s.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == samlCookie {
			return c.Value
		}
	}
	return ""
}

// TestSAMLIdPLogout: the development IdP ends a user's sessions with a
// signed LogoutRequest, through the browser and the Envoy emulator, on a
// real Redis behind the Check path's cache (whose one-hour TTL means only
// an invalidation can make the end show). The browser session and the
// command-line token minted from it are both refused afterwards, and the
// IdP gets a LogoutResponse at its SingleLogoutService. In the HTTP-POST
// binding too, and an unsigned request ends nothing.
func TestSAMLIdPLogout(t *testing.T) {
	s := startSAMLStack(t)
	slo := s.base + sp.LogoutPath
	// signIn signs a browser and a program in, and primes the cache with
	// both.
	signIn := func(t *testing.T) (*samlBrowser, string, tokens) {
		t.Helper()
		b := newSAMLBrowser(t)
		tj := s.cliSignIn(t, b)
		cookie := s.sessionCookie(t, b)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if st := s.cookieStatus(t, cookie); st != http.StatusOK {
				t.Fatalf("session refused before the logout: %d", st)
			}
			if status, body := s.call(t, "POST", predictURL, tj.Access); status != 200 {
				t.Fatalf("predict: %d %s", status, body)
			}
			if s.cache.Len() >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the Check path's cache holds nothing; it would prove nothing about invalidations")
			}
		}
		return b, cookie, tj
	}
	refusedWithin := func(t *testing.T, cookie string, tj tokens) {
		t.Helper()
		s.refusedWithin(t, "the command-line token minted from the session", tj.Access)
		for start := time.Now(); s.cookieStatus(t, cookie) == http.StatusOK; time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > time.Second {
				t.Fatal("the browser session still works a second after the IdP's LogoutRequest")
			}
		}
		if status, got := s.post(t, sp.TokenPath, url.Values{"grant_type": {sp.GrantRefreshToken}, "refresh_token": {tj.Refresh}}); status != 400 || got.Error != "invalid_grant" {
			t.Errorf("refresh after the IdP's logout: %d %+v", status, got)
		}
	}

	t.Run("redirect binding", func(t *testing.T) {
		b, cookie, tj := signIn(t)
		u, err := s.dev.LogoutRedirectURL(devidp.LogoutOptions{Destination: slo, NameID: "alice", RelayState: s.base + sp.HomePath})
		if err != nil {
			t.Fatal(err)
		}
		back := hop(t, mustNavigate(t, b, u), http.StatusFound)
		if !strings.HasPrefix(back, s.dev.SLOURL()+"?SAMLResponse=") || !strings.Contains(back, "&RelayState="+url.QueryEscape(s.base+sp.HomePath)) {
			t.Fatalf("answered with a redirect to %q", back)
		}
		if s.sessionCookie(t, b) != "" {
			t.Error("the session cookie was not cleared")
		}
		// The IdP takes the answer and sends the browser on to RelayState.
		if resp, page := b.navigate(back); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the IdP refused the LogoutResponse: %d %s", resp.StatusCode, page)
		}
		refusedWithin(t, cookie, tj)
	})

	t.Run("POST binding", func(t *testing.T) {
		b, cookie, tj := signIn(t)
		action, fields, err := s.dev.LogoutForm(devidp.LogoutOptions{Destination: slo, NameID: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		// The development IdP has only an HTTP-Redirect SingleLogoutService.
		resp, _ := b.submit(action, fields)
		if back := hop(t, resp, http.StatusFound); !strings.HasPrefix(back, s.dev.SLOURL()+"?SAMLResponse=") {
			t.Fatalf("answered with a redirect to %q", back)
		}
		refusedWithin(t, cookie, tj)
	})

	t.Run("unsigned ends nothing", func(t *testing.T) {
		b, cookie, tj := signIn(t)
		u, err := s.dev.LogoutRedirectURL(devidp.LogoutOptions{Destination: slo, NameID: "alice", Unsigned: true})
		if err != nil {
			t.Fatal(err)
		}
		hop(t, mustNavigate(t, b, u), http.StatusFound)
		time.Sleep(200 * time.Millisecond)
		if st := s.cookieStatus(t, cookie); st != http.StatusOK {
			t.Errorf("session refused after an unsigned LogoutRequest: %d", st)
		}
		if status, _ := s.call(t, "POST", predictURL, tj.Access); status != 200 {
			t.Errorf("token refused after an unsigned LogoutRequest: %d", status)
		}
	})
	if strings.Contains(s.logs.String(), "alice") {
		t.Errorf("the SP's log names the user:\n%s", s.logs)
	}
}

// TestSAMLLogoutTwoReplicas: two SP replicas behind one URL share one real
// redis-server, each with its own session cache for the Check path. A
// user signs in through replica A and is cached by B; the IdP's
// LogoutRequest reaches A, and B's cache drops the session and the token
// minted from it (Redis pub/sub), well before its one-hour TTL.
func TestSAMLLogoutTwoReplicas(t *testing.T) {
	store, err := session.NewRedis(redistest.Start(t).Client(), session.RedisConfig{Prefix: "tfgate:"})
	if err != nil {
		t.Fatal(err)
	}
	var caches [2]*session.Cached
	for i := range caches {
		caches[i] = session.NewCached(store, session.CacheConfig{TTL: time.Hour, Invalidations: store})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func(c *session.Cached) { defer close(done); _ = c.Run(ctx) }(caches[i])
		t.Cleanup(func() { cancel(); <-done })
	}
	// The load balancer sends each request to the replica lb names.
	var lb atomic.Int32
	var replicas [2]http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replicas[lb.Load()].ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	base := srv.URL
	idp := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: base + sp.MetadataPath, ACSURLs: []string{base + sp.ACSPath}}}})
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	idps := idpSet(t, md)
	bindingKey := []byte(strings.Repeat("k", sp.BindingKeySize))
	logs := &lockedBuffer{}
	for i := range replicas {
		v, err := samlverify.New(samlverify.Config{SPEntityID: base + sp.MetadataPath, ACSURL: base + sp.ACSPath}, idps, store)
		if err != nil {
			t.Fatal(err)
		}
		h, err := sp.New(sp.Config{BaseURL: base, Verifier: v, IdPs: idps, Sessions: store, Tokens: store,
			CookieName: samlCookie, Insecure: true, BindingKey: bindingKey, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = h
	}

	// Sign in through A.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	acs, fields, err := devidp.SignIn(t.Context(), c, base+sp.LoginPath, "alice")
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(acs, fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var token string
	for _, ck := range resp.Cookies() {
		if ck.Name == samlCookie {
			token = ck.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || token == "" {
		t.Fatalf("ACS: %d, no session cookie\n%s", resp.StatusCode, logs)
	}
	// A program's token minted from the session, as the token endpoint
	// mints it (its family is the session's handle).
	s, err := store.Lookup(t.Context(), token)
	if err != nil {
		t.Fatal(err)
	}
	child := "tfg_" + strings.Repeat("c", 43)
	cs := s
	cs.Family = authz.SessionHandle(token)
	if err := store.Create(t.Context(), child, cs); err != nil {
		t.Fatal(err)
	}
	// Replica B's cache holds both (once subscribed; until then it
	// caches nothing).
	for deadline := time.Now().Add(5 * time.Second); caches[1].Len() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("replica B's cache never held the session")
		}
		for _, tok := range []string{token, child} {
			if _, err := caches[1].Lookup(t.Context(), tok); err != nil {
				t.Fatalf("replica B before the logout: %v", err)
			}
		}
	}

	// The IdP's LogoutRequest reaches A.
	lb.Store(0)
	u, err := idp.LogoutRedirectURL(devidp.LogoutOptions{Destination: base + sp.LogoutPath, NameID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, idp.SLOURL()+"?SAMLResponse=") {
		t.Fatalf("replica A answered %d %q\n%s", resp.StatusCode, loc, logs)
	}
	start := time.Now()
	for _, tok := range []string{token, child} {
		for {
			_, err := caches[1].Lookup(t.Context(), tok)
			if errors.Is(err, authz.ErrNoSession) {
				break
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("replica B still accepts a session the IdP ended (err %v)", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("replica B refused the session and its token %v after the LogoutRequest reached A", time.Since(start).Round(time.Millisecond))
	if _, err := caches[0].Lookup(t.Context(), token); !errors.Is(err, authz.ErrNoSession) {
		t.Errorf("replica A: %v", err)
	}
}
