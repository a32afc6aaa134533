package sp

import (
	"fmt"
	"net/http"

	"github.com/tfgate/tfgate/samlverify"
)

// handleLogin sends the browser to the IdP with an AuthnRequest
// (HTTP-Redirect binding) and binds the request to the browser with a
// sealed cookie (binding.go). It writes nothing to the session store.
func (h *Handler) handleLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ret, ok := h.returnTo.check(q.Get("return_to"))
	if !ok {
		h.fail(w, r, &returnToError{h.returnTo.why(q.Get("return_to"))})
		return
	}
	idp, err := h.chooseIdP(q.Get("idp"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, err := h.newID()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Nothing is stored: the pending request travels in its own sealed
	// binding cookie. RelayState carries return_to when it fits the
	// binding's limit; otherwise the binding cookie does, and the IdP sees
	// none.
	b := binding{RequestID: id, IdP: idp.EntityID, Issued: h.cfg.Now()}
	relay := ret
	if len(ret) > maxRelayState {
		b.ReturnTo, relay = ret, ""
	}
	loc, err := h.authnRequestURL(idp, id, relay)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.setBinding(w, r, b); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, loc, http.StatusFound)
}

// chooseIdP returns the IdP name selects: a configured short name, an
// entity ID, or the default when empty.
func (h *Handler) chooseIdP(name string) (*samlverify.IdP, error) {
	if name == "" {
		if idp := h.cfg.IdPs.Default(); idp != nil {
			return idp, nil
		}
		return nil, errUnknownIdP
	}
	if id, ok := h.cfg.IdPNames[name]; ok {
		name = id
	}
	idp, ok := h.cfg.IdPs.LookupIdP(name)
	if !ok {
		return nil, errUnknownIdP
	}
	return idp, nil
}

// authnRequestURL returns the redirect to idp's SSO endpoint carrying a
// new AuthnRequest with ID id, signed when the SP signs requests or the
// IdP wants them signed.
func (h *Handler) authnRequestURL(idp *samlverify.IdP, id, relayState string) (string, error) {
	if idp.SSORedirectURL == "" {
		return "", fmt.Errorf("%w: %s has no HTTP-Redirect SingleSignOnService", errIdPUnusable, idp.EntityID)
	}
	sign := h.cfg.SignRequests || idp.WantAuthnRequestsSigned
	if sign && h.cfg.Key == nil {
		return "", fmt.Errorf("%w: %s wants signed AuthnRequests and no SP key is configured", errIdPUnusable, idp.EntityID)
	}
	req := authnRequest{
		ID: id, Destination: idp.SSORedirectURL, ACS: h.acsURL, Issuer: h.cfg.EntityID,
		NameIDFormat: h.cfg.NameIDFormat, IssueInstant: h.cfg.Now(),
	}
	key := h.cfg.Key
	if !sign {
		key = nil
	}
	return redirectURL(idp.SSORedirectURL, "SAMLRequest", req.element(), relayState, key)
}
