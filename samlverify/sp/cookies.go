package sp

import (
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// binding is what the binding cookie carries from /saml/login to the ACS:
// the AuthnRequest ID, the IdP it was sent to and, when it did not fit in
// RelayState, the return_to.
type binding struct {
	RequestID string
	IdP       string
	ReturnTo  string
}

// encode returns the cookie value: ID, then the base64url IdP and
// return_to, joined by dots (none of which an ID from newID contains).
func (b binding) encode() string {
	enc := base64.RawURLEncoding.EncodeToString
	return b.RequestID + "." + enc([]byte(b.IdP)) + "." + enc([]byte(b.ReturnTo))
}

// decodeBinding parses a binding cookie value.
func decodeBinding(v string) (binding, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || !isRequestID(parts[0]) {
		return binding{}, false
	}
	idp, ok1 := decodeCanonical(parts[1])
	ret, ok2 := decodeCanonical(parts[2])
	if !ok1 || !ok2 || idp == "" {
		return binding{}, false
	}
	return binding{RequestID: parts[0], IdP: idp, ReturnTo: ret}, true
}

// decodeCanonical decodes unpadded base64url that is exactly as encode
// writes it (the decoder alone would skip newlines and ignore stray bits),
// so that a cookie value has one meaning.
func decodeCanonical(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		return "", false
	}
	return string(b), true
}

// bindingCookieName is the binding cookie's name.
func (h *Handler) bindingCookieName() string { return h.cfg.CookieName + "-req" }

// setBinding sets the binding cookie for RequestTTL.
func (h *Handler) setBinding(w http.ResponseWriter, b binding) {
	http.SetCookie(w, h.bindingCookie(b.encode(), int(h.cfg.RequestTTL/time.Second)))
}

// clearBinding deletes the binding cookie.
func (h *Handler) clearBinding(w http.ResponseWriter) {
	http.SetCookie(w, h.bindingCookie("", -1))
}

// bindingCookie returns the binding cookie. Secure: SameSite=None, or the
// IdP's cross-site POST would not carry it. Insecure (http on 127.0.0.1,
// one site): SameSite=Lax, since browsers refuse None without Secure.
func (h *Handler) bindingCookie(value string, maxAge int) *http.Cookie {
	c := h.cookie(h.bindingCookieName(), value, maxAge)
	c.SameSite = http.SameSiteNoneMode
	if h.cfg.Insecure {
		c.SameSite = http.SameSiteLaxMode
	}
	return c
}

// readBinding returns the request's binding cookie.
func (h *Handler) readBinding(r *http.Request) (binding, bool) {
	c, err := r.Cookie(h.bindingCookieName())
	if err != nil {
		return binding{}, false
	}
	return decodeBinding(c.Value)
}

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
