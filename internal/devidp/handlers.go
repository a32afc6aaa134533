package devidp

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// maxForm caps the sign-in form body.
const maxForm = 8 << 10

// handleSSO accepts an HTTP-Redirect AuthnRequest and shows the sign-in page.
func (idp *IdP) handleSSO(w http.ResponseWriter, r *http.Request) {
	req, err := idp.parseRedirect(r.URL.RawQuery)
	if err != nil {
		idp.fail(w, r, err)
		return
	}
	browser, err := idp.browserID(w, r)
	if err != nil {
		idp.fail(w, r, err)
		return
	}
	token, err := idp.randomString(32)
	if err != nil {
		idp.fail(w, r, err)
		return
	}
	now := idp.cfg.Now()
	p := pendingSignIn{req: req, browser: browser, expires: now.Add(pendingLifetime)}
	if err := idp.pending.add(token, p, now); err != nil {
		idp.fail(w, r, err)
		return
	}
	idp.render(w, http.StatusOK, "login", loginPage{
		SP:     req.SP.EntityID,
		ACSURL: req.ACSURL,
		Action: LoginPath,
		Token:  token,
		Users:  idp.cfg.Users,
	})
}

// handleLogin signs the chosen user in and posts the Response to the ACS.
func (idp *IdP) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		idp.fail(w, r, fmt.Errorf("%w: reading the form: %v", ErrCSRF, err))
		return
	}
	var browser string
	if c, err := r.Cookie(browserCookie); err == nil {
		browser = c.Value
	}
	p, err := idp.pending.take(r.PostForm.Get("token"), browser, idp.cfg.Now())
	if err != nil {
		idp.fail(w, r, err)
		return
	}
	user, ok := idp.users[r.PostForm.Get("user")]
	if !ok {
		idp.fail(w, r, ErrUnknownUser)
		return
	}
	_, b64, err := idp.NewResponse(ResponseOptions{
		User:         user,
		InResponseTo: p.req.ID,
		ACSURL:       p.req.ACSURL,
		Audience:     p.req.SP.EntityID,
		NameIDFormat: p.req.NameIDFormat,
	})
	if err != nil {
		idp.fail(w, r, err)
		return
	}
	idp.cfg.Logger.Info("devidp: signed in", "user", user.ID, "sp", p.req.SP.EntityID)
	idp.render(w, http.StatusOK, "post", postPage{
		SP:           p.req.SP.EntityID,
		ACSURL:       p.req.ACSURL,
		SAMLResponse: b64,
		RelayState:   p.req.RelayState,
		User:         user,
	})
}

// handleSLO shows a "signed out" page, or redirects to a return URL on a
// configured SP's origin. The IdP keeps no session, so there is nothing to
// end; the page tells the user what happened.
func (idp *IdP) handleSLO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ret := q.Get("return_to")
	if ret == "" {
		ret = q.Get("RelayState")
	}
	if ret == "" {
		idp.render(w, http.StatusOK, "signedout", signedOutPage{})
		return
	}
	if !idp.allowedReturn(ret) {
		idp.cfg.Logger.Info("devidp: logout return URL refused", "return_to", ret)
		idp.render(w, http.StatusBadRequest, "signedout", signedOutPage{Refused: ret})
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// allowedReturn reports whether ret is an absolute URL on the origin of a
// configured SP's ACS URL.
func (idp *IdP) allowedReturn(ret string) bool {
	u, err := url.Parse(ret)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return false
	}
	for _, sp := range idp.cfg.SPs {
		for _, acs := range sp.ACSURLs {
			a, err := url.Parse(acs)
			if err == nil && a.Scheme == u.Scheme && a.Host == u.Host {
				return true
			}
		}
	}
	return false
}

// fail maps err to an HTTP status and an error page: the one place where
// the IdP's errors meet HTTP. Unknown errors are internal and shown
// generically.
func (idp *IdP) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := httpStatus(err)
	idp.cfg.Logger.Info("devidp: request refused", "path", r.URL.Path, "status", status, "err", err)
	idp.render(w, status, "error", errorPage{Status: status, Message: msg})
}

// statuses maps sentinel errors to HTTP statuses.
var statuses = []struct {
	err    error
	status int
}{
	{ErrMalformedRequest, http.StatusBadRequest},
	{ErrUnknownUser, http.StatusBadRequest},
	{ErrUnknownSP, http.StatusForbidden},
	{ErrACSNotAllowed, http.StatusForbidden},
	{ErrDestination, http.StatusForbidden},
	{ErrSignature, http.StatusForbidden},
	{ErrCSRF, http.StatusForbidden},
	{ErrBusy, http.StatusServiceUnavailable},
	{ErrNotBound, http.StatusServiceUnavailable},
}

// httpStatus returns err's status and the message to show. Known errors
// show their full text: this is a development tool, and the detail (which
// ACS URL, which Issuer) is what its user needs.
func httpStatus(err error) (int, string) {
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			return s.status, err.Error()
		}
	}
	return http.StatusInternalServerError, "internal error; see the IdP's log"
}
