package devidp

import (
	"crypto/subtle"
	"net/http"
	"sync"
	"time"
)

const (
	// pendingLifetime is how long a sign-in page's form stays usable.
	pendingLifetime = 10 * time.Minute
	// maxPending bounds the sign-ins waiting for a click.
	maxPending = 1024
	// browserCookie binds a sign-in form to the browser that loaded it, so
	// a token copied elsewhere (or planted by another site) is useless.
	browserCookie = "devidp_browser"
)

// pendingSignIn is an accepted AuthnRequest waiting for the user's choice.
// The sign-in form's token is its key: one token per page, usable once.
type pendingSignIn struct {
	req     authnRequest
	browser string
	expires time.Time
}

// pendingStore holds pending sign-ins keyed by form token.
type pendingStore struct {
	mu sync.Mutex
	m  map[string]pendingSignIn
}

func newPendingStore() *pendingStore {
	return &pendingStore{m: make(map[string]pendingSignIn)}
}

// add stores p under token, dropping expired entries first; it fails with
// ErrBusy when maxPending sign-ins are still live.
func (s *pendingStore) add(token string, p pendingSignIn, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxPending {
		for k, v := range s.m {
			if !now.Before(v.expires) {
				delete(s.m, k)
			}
		}
	}
	if len(s.m) >= maxPending {
		return ErrBusy
	}
	s.m[token] = p
	return nil
}

// take removes and returns the sign-in for token if it exists, has not
// expired and was issued to browser.
func (s *pendingStore) take(token, browser string, now time.Time) (pendingSignIn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.m[token]
	if !ok || token == "" {
		return pendingSignIn{}, ErrCSRF
	}
	if subtle.ConstantTimeCompare([]byte(p.browser), []byte(browser)) != 1 {
		// Keep the entry: the rightful browser may still submit it.
		return pendingSignIn{}, ErrCSRF
	}
	delete(s.m, token)
	if !now.Before(p.expires) {
		return pendingSignIn{}, ErrCSRF
	}
	return p, nil
}

// browserID returns the browser's binding cookie, setting a new one when
// the request carries none.
func (idp *IdP) browserID(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 {
		return c.Value, nil
	}
	id, err := idp.randomString(32)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     browserCookie,
		Value:    id,
		Path:     "/saml/idp/",
		HttpOnly: true,
		Secure:   r.TLS != nil,
		// Lax, not Strict: the SP's redirect to the SSO page is a
		// cross-site navigation, and it must see the existing cookie so
		// that two tabs signing in at once do not replace each other's.
		SameSite: http.SameSiteLaxMode,
	})
	return id, nil
}
