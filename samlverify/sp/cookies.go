package sp

import (
	"net/http"
	"time"
)

// setSession sets the session cookie, expiring with the session.
func (h *Handler) setSession(w http.ResponseWriter, token string, expires time.Time) {
	c := h.cookie(h.cfg.CookieName, token, int(expires.Sub(h.cfg.Now())/time.Second))
	c.SameSite = http.SameSiteLaxMode
	http.SetCookie(w, c)
}

// clearSession deletes the session cookie.
func (h *Handler) clearSession(w http.ResponseWriter) {
	c := h.cookie(h.cfg.CookieName, "", -1)
	c.SameSite = http.SameSiteLaxMode
	http.SetCookie(w, c)
}

// cookie returns a host-only, HttpOnly cookie for Path=/ (which __Host-
// requires), Secure unless Insecure. maxAge < 0 deletes it (Max-Age=0).
func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	if maxAge == 0 {
		maxAge = 1 // net/http would leave Max-Age out
	}
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: !h.cfg.Insecure,
	}
}
