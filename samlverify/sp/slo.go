package sp

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// IdP-initiated single logout (SAML profiles §4.4.3.2, front channel): the
// IdP sends the user's browser to /saml/logout with a LogoutRequest, in
// the HTTP-Redirect binding (GET ?SAMLRequest=) or HTTP-POST (a form with
// SAMLRequest). samlverify checks it (signature, issuer, destination,
// time, replay); only then are the sessions it names ended, with the
// tokens minted from them, on every replica (Config.SingleLogout). The
// browser is then sent back to the IdP's SingleLogoutService with a
// LogoutResponse (signed with Config.Key), in the binding the IdP used.

// EventSLO is the Event kind of an IdP's LogoutRequest: Outcome is
// "success", "partial" (some sessions could not be ended) or the reason
// it was refused.
const EventSLO = "slo"

// maxEchoRelayState caps the IdP's RelayState that is sent back to it.
// Bindings §3.4.3 allow 80 bytes; some IdPs keep their logout state in
// it, so a little more is echoed, never an unbounded amount.
const maxEchoRelayState = 1024

// pageSLORefused is shown when a LogoutRequest is refused and there is no
// IdP endpoint to answer it at.
var pageSLORefused = page{Title: "Sign-out request refused", Message: "The identity provider's request to sign you out could not be verified, so nothing was signed out here. Contact support with the reference below."}

// msgSLOAnswer is the text of the page that posts the LogoutResponse back.
const msgSLOAnswer = "Returning to your identity provider to finish signing out…"

// handleIdPLogout answers an IdP's LogoutRequest that arrived in binding
// b. Every outcome answers the IdP when its metadata names a
// SingleLogoutService: Success when the sessions are ended, Requester when
// the request was refused, Responder (with PartialLogout when some
// sessions did end) when the store could not end them. Without such an
// endpoint the browser sees the signed-out page or an error page.
func (h *Handler) handleIdPLogout(w http.ResponseWriter, r *http.Request, b samlverify.LogoutBinding) {
	dest := h.cfg.BaseURL + LogoutPath
	var (
		req   *samlverify.LogoutRequest
		reply samlverify.LogoutReply
		err   error
	)
	if b == samlverify.BindingRedirect {
		req, reply, err = h.cfg.Verifier.VerifyLogoutRedirect(r.Context(), r.URL.RawQuery, dest)
	} else {
		req, reply, err = h.cfg.Verifier.VerifyLogoutPOST(r.Context(), r.PostForm.Get("SAMLRequest"), r.PostForm.Get("RelayState"), dest)
	}
	if err != nil {
		o, ref, advice := h.logRefusal(r, err)
		h.cfg.event(Event{Kind: EventSLO, Outcome: o.code})
		status := statusRequester
		if o.status >= 500 {
			status = statusResponder
		}
		if h.answerIdP(w, r, reply, status, "") {
			return
		}
		p := pageSLORefused
		if o.status >= 500 {
			p = pageUnavailable
			p.Retry = false
		}
		p.Ref, p.Advice = ref, advice
		h.render(w, o.status, "error", p)
		return
	}
	status, sub := h.endSessions(r.Context(), req)
	if status == statusSuccess {
		h.clearEndedCookie(w, r)
	}
	if !h.answerIdP(w, r, reply, status, sub) {
		h.handleLogoutPageSignedOut(w)
	}
}

// endSessions ends the sessions req names and returns the LogoutResponse
// status.
func (h *Handler) endSessions(ctx context.Context, req *samlverify.LogoutRequest) (status, sub string) {
	log := h.cfg.Logger.With("idp", req.IdP, "binding", bindingName(req.Binding), "session_indexes", len(req.SessionIndexes))
	if h.cfg.SingleLogout == nil {
		log.Error("saml: single logout from the IdP not possible: the session store cannot end sessions by NameID")
		h.cfg.event(Event{Kind: EventSLO, Outcome: "unavailable"})
		return statusResponder, ""
	}
	n, err := h.cfg.SingleLogout.EndSAMLSessions(ctx, req.IdP, req.NameID, req.SessionIndexes)
	if err != nil {
		log.Error("saml: single logout from the IdP failed", "sessions_ended", n, "err", err)
		if n > 0 {
			h.cfg.event(Event{Kind: EventSLO, Outcome: "partial"})
			return statusResponder, statusPartialLogout
		}
		h.cfg.event(Event{Kind: EventSLO, Outcome: "unavailable"})
		return statusResponder, ""
	}
	log.Info("saml: signed out by the IdP", "sessions_ended", n)
	h.cfg.event(Event{Kind: EventSLO, Outcome: "success"})
	return statusSuccess, ""
}

// clearEndedCookie deletes the browser's session cookie when the session
// it names is gone (the one the IdP just ended, usually; a cookie of
// another, live session stays).
func (h *Handler) clearEndedCookie(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(h.cfg.CookieName)
	if err != nil || c.Value == "" {
		return
	}
	if _, err := h.cfg.Sessions.Lookup(r.Context(), c.Value); errors.Is(err, authz.ErrNoSession) {
		h.clearSession(w)
	}
}

// bindingName is a binding's short name for logs.
func bindingName(b samlverify.LogoutBinding) string {
	if b == samlverify.BindingRedirect {
		return "redirect"
	}
	return "post"
}

// sloEndpoint returns the IdP's SingleLogoutService for binding b, or the
// other binding's when it has none for b.
func sloEndpoint(idp *samlverify.IdP, b samlverify.LogoutBinding) (string, samlverify.LogoutBinding) {
	redir, post := idp.SLORedirectURL, idp.SLOPostURL
	switch {
	case b == samlverify.BindingPOST && post != "":
		return post, samlverify.BindingPOST
	case redir != "":
		return redir, samlverify.BindingRedirect
	case post != "":
		return post, samlverify.BindingPOST
	}
	return "", b
}

// answerIdP sends the browser to the IdP's SingleLogoutService with a
// LogoutResponse of status (and second-level sub), and reports whether
// it could: it cannot when the IdP is unknown or has no such endpoint, or
// the response cannot be built (logged).
func (h *Handler) answerIdP(w http.ResponseWriter, r *http.Request, reply samlverify.LogoutReply, status, sub string) bool {
	if reply.IdP == nil {
		return false
	}
	dest, b := sloEndpoint(reply.IdP, reply.Binding)
	if dest == "" {
		return false
	}
	id, err := h.newID()
	if err != nil {
		h.cfg.Logger.Error("saml: answering the IdP's LogoutRequest", "idp", reply.IdP.EntityID, "err", err)
		return false
	}
	msg := logoutResponse{
		ID: id, Destination: dest, Issuer: h.cfg.EntityID, InResponseTo: reply.InResponseTo,
		Status: status, Sub: sub, IssueInstant: h.cfg.Now(),
	}.element()
	relay := reply.RelayState
	if len(relay) > maxEchoRelayState {
		relay = ""
	}
	if b == samlverify.BindingRedirect {
		loc, err := redirectURL(dest, "SAMLResponse", msg, relay, h.cfg.Key)
		if err != nil {
			h.cfg.Logger.Error("saml: answering the IdP's LogoutRequest", "idp", reply.IdP.EntityID, "err", err)
			return false
		}
		redirect(w, loc, http.StatusFound)
		return true
	}
	b64, err := h.postEncode(msg)
	if err != nil {
		h.cfg.Logger.Error("saml: answering the IdP's LogoutRequest", "idp", reply.IdP.EntityID, "err", err)
		return false
	}
	fields := []formField{{Name: "SAMLResponse", Value: b64}}
	if relay != "" {
		fields = append(fields, formField{Name: "RelayState", Value: relay})
	}
	h.render(w, http.StatusOK, "postform", page{Title: "Signing out", Message: msgSLOAnswer, Action: dest, Fields: fields})
	return true
}

// postEncode returns msg as the HTTP-POST binding carries it: signed
// (enveloped, RSA-SHA256, exclusive c14n, after the Issuer) when the SP
// has a key, then base64.
func (h *Handler) postEncode(msg *etree.Element) (string, error) {
	if h.cfg.Key != nil {
		var err error
		if msg, err = signEnveloped(h.cfg.Key, h.cfg.Cert, msg); err != nil {
			return "", err
		}
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.SetRoot(msg)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// signEnveloped returns el with an enveloped signature by key right after
// its Issuer, with cert in KeyInfo when set. goxmldsig canonicalizes el
// while digesting it, so nothing may change el afterwards.
func signEnveloped(key *rsa.PrivateKey, cert *x509.Certificate, el *etree.Element) (*etree.Element, error) {
	var certs [][]byte
	if cert != nil {
		certs = [][]byte{cert.Raw}
	}
	ctx, err := dsig.NewSigningContext(key, certs)
	if err != nil {
		return nil, err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, err
	}
	issuer := el.SelectElement("Issuer")
	if issuer == nil {
		return nil, fmt.Errorf("sp: %s has no Issuer to sign after", el.Tag)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("sp: signing %s: %w", el.Tag, err)
	}
	el.InsertChildAt(issuer.Index()+1, sig)
	return el, nil
}

// handleLogoutPageSignedOut shows the signed-out page.
func (h *Handler) handleLogoutPageSignedOut(w http.ResponseWriter) {
	h.render(w, http.StatusOK, "signedout", signedOutPage())
}
