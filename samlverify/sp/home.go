package sp

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// handleHome is the account page: who is signed in in this browser, their
// groups, what the policy lets their groups use, and how to sign out or
// sign a program in. Without a session it offers to sign in.
func (h *Handler) handleHome(w http.ResponseWriter, r *http.Request) {
	signIn := link{Text: "Sign in", URL: LoginPath + "?return_to=" + url.QueryEscape(HomePath), Primary: true}
	c, err := r.Cookie(h.cfg.CookieName)
	if err != nil || c.Value == "" {
		h.render(w, http.StatusOK, "home", page{Title: "tfgate", Home: &home{},
			Message: "You are not signed in in this browser.", Links: []link{signIn}})
		return
	}
	s, err := h.cfg.Sessions.Lookup(r.Context(), c.Value)
	switch {
	case errors.Is(err, authz.ErrNoSession) || err == nil && !h.cfg.Now().Before(s.ExpiresAt):
		h.render(w, http.StatusOK, "home", page{Title: "tfgate", Home: &home{},
			Message: "Your session has ended (it expired, or you or an administrator signed it out).", Links: []link{signIn}})
		return
	case err != nil:
		h.fail(w, r, errUnavailable)
		return
	}
	hm := &home{
		Subject: s.Subject, Name: s.Name, Email: s.Email, IdP: s.IdP, Groups: s.Groups,
		ExpiresAt: s.ExpiresAt.UTC().Format(time.RFC1123), Server: h.cfg.BaseURL,
	}
	if h.cfg.Grants != nil {
		hm.ListGrants, hm.Grants = true, h.cfg.Grants(s.Groups)
	}
	h.render(w, http.StatusOK, "home", page{Title: "Your tfgate account", Home: hm,
		Message: "This is who TF Serving sees when this browser calls it through tfgate.",
		Links: []link{
			{Text: "Sign out", URL: LogoutPath, Primary: true},
			{Text: "Sign in as someone else", URL: LogoutPath},
			{Text: "Session as JSON", URL: WhoamiPath},
		}})
}

// handleACSGet answers a browser that opens the ACS address: it only takes
// the IdP's POST.
func (h *Handler) handleACSGet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	h.render(w, http.StatusMethodNotAllowed, "info", page{Title: "Nothing to open here",
		Message: "This address receives the sign-in your identity provider sends back (it posts a form here); " +
			"it is not a page to open. If a sign-in brought you here, it did not finish: start it again.",
		Links: []link{{Text: "Sign in", URL: LoginPath + "?return_to=" + url.QueryEscape(HomePath), Primary: true}, {Text: "Your account page", URL: HomePath}}})
}
