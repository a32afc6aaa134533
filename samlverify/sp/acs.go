package sp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// handleACS accepts the IdP's Response (HTTP-POST binding), creates a
// session and sends the browser back where it started.
func (h *Handler) handleACS(w http.ResponseWriter, r *http.Request) {
	samlResponse, relayState, err := h.readACSForm(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Without the binding cookie of the request the Response answers,
	// nothing is verified and nothing consumed: the Response may still be
	// good in the browser it belongs to. The verifier compares the
	// verified InResponseTo with the binding before it records anything.
	// An unsolicited Response (no InResponseTo) needs no binding, only an
	// IdP allowed to send one (Config.IdPInitiated).
	pending := h.pendingBindings(r)
	bound := slices.ContainsFunc(pending, func(p pendingBinding) bool { return p.ok })
	var b binding
	var bname string
	askedBinding := false
	id, err := h.cfg.Verifier.VerifyResponse(r.Context(), samlResponse, samlverify.ResponseOptions{
		Pending: func(irt string) (samlverify.PendingRequest, bool) {
			askedBinding = true
			var ok bool
			if b, bname, ok = pendingFor(pending, irt); !ok {
				return samlverify.PendingRequest{}, false
			}
			return samlverify.PendingRequest{ID: b.RequestID, IdP: b.IdP, NotOnOrAfter: b.Issued.Add(h.cfg.RequestTTL)}, true
		},
		Unsolicited: h.idpInitiated,
	})
	if err != nil {
		if !bound && askedBinding {
			err = errNoBinding
		}
		h.fail(w, r, err)
		return
	}
	unsolicited := id.InResponseTo == ""
	token, s, err := h.newSession(r, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setSession(w, token, s.ExpiresAt)
	if !unsolicited {
		h.clearBinding(w, bname)
	} else {
		b = binding{}
	}
	dest := h.destination(r, b, relayState)
	if unsolicited && h.unsolicitedDestinationRefused(dest) {
		dest = "/"
	}
	h.cfg.Logger.Info("saml: signed in", "idp", id.IdP, "session", authz.SessionHandle(token),
		"groups", len(s.Groups), "expires_at", s.ExpiresAt, "idp_initiated", unsolicited)
	h.cfg.event(Event{Kind: EventACS, Outcome: "success"})
	redirect(w, dest, http.StatusSeeOther)
}

// idpInitiated is samlverify's ResponseOptions.Unsolicited: whether the IdP
// may sign users in unsolicited, with what maximum age.
func (h *Handler) idpInitiated(entityID string) (time.Duration, bool) {
	if h.cfg.IdPInitiated == nil {
		return 0, false
	}
	age, ok := h.cfg.IdPInitiated(entityID)
	if !ok {
		return 0, false
	}
	if age <= 0 {
		age = DefaultIdPInitiatedMaxAge
	}
	return age, true
}

// unsolicitedDestinationRefused reports whether dest, a RelayState that
// passed the return_to check, is under /saml/ on this host. Nobody asked
// for an IdP-initiated sign-in in this browser, so it may be login CSRF; it
// must not lead on to the SP's own endpoints (such as the command-line
// sign-in's consent page).
func (h *Handler) unsolicitedDestinationRefused(dest string) bool {
	u, err := url.Parse(dest)
	if err != nil {
		return true
	}
	if u.Host != "" && !h.returnTo.sameOrigin(u) {
		return false
	}
	return underSAML(u.Path)
}

// readACSForm reads SAMLResponse and RelayState from a size-capped
// url-encoded body. Each must appear at most once.
func (h *Handler) readACSForm(w http.ResponseWriter, r *http.Request) (samlResponse, relayState string, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return "", "", errFormTooLarge
		}
		return "", "", fmt.Errorf("%w: %v", errBadForm, err)
	}
	resp, rs := r.PostForm["SAMLResponse"], r.PostForm["RelayState"]
	if len(resp) != 1 || resp[0] == "" || len(rs) > 1 {
		return "", "", fmt.Errorf("%w: want one SAMLResponse and at most one RelayState", errBadForm)
	}
	if len(rs) == 1 {
		relayState = rs[0]
	}
	return resp[0], relayState, nil
}

// newSession stores a session for id under a new token. It ends at the
// sooner of SessionLifetime from now and the IdP's SessionNotOnOrAfter.
func (h *Handler) newSession(r *http.Request, id *samlverify.Identity) (string, authz.Session, error) {
	token, err := authz.NewToken(h.cfg.Rand)
	if err != nil {
		return "", authz.Session{}, err
	}
	now := h.cfg.Now()
	expires := now.Add(h.cfg.SessionLifetime)
	if t := id.SessionNotOnOrAfter; !t.IsZero() && t.Before(expires) {
		expires = t
	}
	s := authz.Session{
		Subject: id.NameID, Email: id.Email, Name: id.DisplayName, Groups: id.Groups, IdP: id.IdP,
		CreatedAt: now, ExpiresAt: expires, SessionIndex: id.SessionIndex, NameIDFormat: id.NameIDFormat,
	}
	if err := h.cfg.Sessions.Create(r.Context(), token, s); err != nil {
		return "", authz.Session{}, fmt.Errorf("%w: creating the session: %w", errUnavailable, err)
	}
	return token, s, nil
}

// destination returns where to send the signed-in user: the binding
// cookie's return_to, or else RelayState, checked again (either could have
// been changed on the way); "/" when it does not pass.
func (h *Handler) destination(r *http.Request, b binding, relayState string) string {
	ret := relayState
	if b.ReturnTo != "" {
		ret = b.ReturnTo
	}
	dest, ok := h.returnTo.check(ret)
	if !ok {
		h.cfg.Logger.Warn("saml: return_to refused after sign-in; sending the user to /", "path", r.URL.Path)
		return "/"
	}
	return dest
}
