package sp

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The binding cookie carries a pending sign-in from /saml/login to the
// ACS, so that /saml/login stores nothing on the server: an anonymous
// flood of it costs CPU only. Each pending AuthnRequest has its own
// cookie, CookieName+"-req-"+a tag of its ID, so that sign-ins started in
// several tabs do not overwrite each other; at most maxPending are kept,
// the oldest dropped first.
//
// The value is sealed with AES-256-GCM under a key derived from
// Config.BindingKey (a random secret, shared by the replicas): the
// browser, or anyone who captures a Response, can neither read it nor
// make one. The cookie's name is the additional data, so a value does not
// move to another cookie. A Response is only accepted with the cookie of
// the request it answers (samlverify's ResponseOptions.Pending), and the
// ACS compares the two before anything is recorded.
const (
	// maxPending is how many sign-ins may be pending in one browser.
	maxPending = 5
	// bindingTagLen is how many hex digits of the request ID name its
	// cookie.
	bindingTagLen = 12
	// bindingVersion starts every sealed value.
	bindingVersion = 1
	// bindingInfo is HKDF's info for the sealing key.
	bindingInfo = "tfgate binding cookie v1"
	// BindingKeySize is the least length of Config.BindingKey, and the
	// length of the one New makes.
	BindingKeySize = 32
)

// binding is what a binding cookie carries: the AuthnRequest ID, the IdP
// it was sent to, when it was issued and, when it did not fit in
// RelayState, the return_to.
type binding struct {
	RequestID string    `json:"id"`
	IdP       string    `json:"idp"`
	ReturnTo  string    `json:"ret,omitempty"`
	Issued    time.Time `json:"iat"`
}

// bindingSealer seals and opens binding cookie values.
type bindingSealer struct{ aead cipher.AEAD }

func newBindingSealer(key []byte) (bindingSealer, error) {
	if len(key) < BindingKeySize {
		return bindingSealer{}, fmt.Errorf("sp: BindingKey must be at least %d bytes, not %d", BindingKeySize, len(key))
	}
	k, err := hkdf.Key(sha256.New, key, nil, bindingInfo, 32)
	if err != nil {
		return bindingSealer{}, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return bindingSealer{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return bindingSealer{}, err
	}
	return bindingSealer{aead: aead}, nil
}

// seal returns the cookie value of b for the cookie named name.
func (s bindingSealer) seal(name string, b binding, rand io.Reader) (string, error) {
	plain, err := json.Marshal(b)
	if err != nil {
		return "", err
	}
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = bindingVersion
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return "", fmt.Errorf("sp: reading a nonce: %w", err)
	}
	out = s.aead.Seal(out, out[1:1+ns], plain, []byte(name))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// errBadBinding is a binding cookie that does not open.
var errBadBinding = errors.New("sp: binding cookie does not open")

// open returns the binding sealed in value for the cookie named name.
func (s bindingSealer) open(name, value string) (binding, error) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	ns := s.aead.NonceSize()
	if err != nil || len(raw) < 1+ns || raw[0] != bindingVersion {
		return binding{}, errBadBinding
	}
	plain, err := s.aead.Open(nil, raw[1:1+ns], raw[1+ns:], []byte(name))
	if err != nil {
		return binding{}, errBadBinding
	}
	var b binding
	if err := json.Unmarshal(plain, &b); err != nil || !isRequestID(b.RequestID) || b.IdP == "" || b.Issued.IsZero() {
		return binding{}, errBadBinding
	}
	return b, nil
}

// bindingCookiePrefix starts the name of every binding cookie.
func (h *Handler) bindingCookiePrefix() string { return h.cfg.CookieName + "-req-" }

// bindingCookieName is the name of the binding cookie of request ID id.
func (h *Handler) bindingCookieName(id string) string {
	return h.bindingCookiePrefix() + strings.TrimPrefix(id, "_")[:bindingTagLen]
}

// pendingBinding is a binding cookie as the request carried it.
type pendingBinding struct {
	name string
	b    binding // zero when the cookie did not open
	ok   bool
}

// pendingBindings returns the request's binding cookies, the live ones
// opened; at most 2*maxPending are looked at.
func (h *Handler) pendingBindings(r *http.Request) []pendingBinding {
	var out []pendingBinding
	prefix, now := h.bindingCookiePrefix(), h.cfg.Now()
	for _, c := range r.Cookies() {
		if !strings.HasPrefix(c.Name, prefix) || slices.ContainsFunc(out, func(p pendingBinding) bool { return p.name == c.Name }) {
			continue
		}
		if len(out) == 2*maxPending {
			break
		}
		p := pendingBinding{name: c.Name}
		if b, err := h.bindings.open(c.Name, c.Value); err == nil && c.Name == h.bindingCookieName(b.RequestID) &&
			now.Before(b.Issued.Add(h.cfg.RequestTTL)) && !b.Issued.After(now.Add(time.Minute)) {
			p.b, p.ok = b, true
		}
		out = append(out, p)
	}
	return out
}

// setBinding sets the binding cookie of b for RequestTTL, first deleting
// the oldest of the browser's pending ones (and any that no longer open)
// so that at most maxPending remain.
func (h *Handler) setBinding(w http.ResponseWriter, r *http.Request, b binding) error {
	pending := h.pendingBindings(r)
	slices.SortStableFunc(pending, func(x, y pendingBinding) int {
		switch {
		case x.ok != y.ok:
			if !x.ok {
				return -1
			}
			return 1
		default:
			return x.b.Issued.Compare(y.b.Issued)
		}
	})
	for i, p := range pending {
		if p.ok && len(pending)-i < maxPending {
			break
		}
		h.clearBinding(w, p.name)
	}
	name := h.bindingCookieName(b.RequestID)
	v, err := h.bindings.seal(name, b, h.cfg.Rand)
	if err != nil {
		return err
	}
	http.SetCookie(w, h.bindingCookie(name, v, int(h.cfg.RequestTTL/time.Second)))
	return nil
}

// clearBinding deletes the binding cookie named name.
func (h *Handler) clearBinding(w http.ResponseWriter, name string) {
	http.SetCookie(w, h.bindingCookie(name, "", -1))
}

// bindingCookie returns a binding cookie. Secure: SameSite=None, or the
// IdP's cross-site POST would not carry it. Insecure (http on 127.0.0.1,
// one site): SameSite=Lax, since browsers refuse None without Secure.
func (h *Handler) bindingCookie(name, value string, maxAge int) *http.Cookie {
	c := h.cookie(name, value, maxAge)
	c.SameSite = http.SameSiteNoneMode
	if h.cfg.Insecure {
		c.SameSite = http.SameSiteLaxMode
	}
	return c
}

// pendingFor returns the browser's pending sign-in that a Response with
// InResponseTo irt answers: the one with that ID, or, when the Response
// names none at its top level, the only one pending.
func pendingFor(pending []pendingBinding, irt string) (binding, string, bool) {
	var live []pendingBinding
	for _, p := range pending {
		if p.ok {
			live = append(live, p)
		}
	}
	for _, p := range live {
		if irt != "" && p.b.RequestID == irt {
			return p.b, p.name, true
		}
	}
	if irt == "" && len(live) == 1 {
		return live[0].b, live[0].name, true
	}
	return binding{}, "", false
}
