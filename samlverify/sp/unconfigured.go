package sp

import "net/http"

// Unconfigured returns the handler to mount at "/saml/" when no IdP is
// configured: every SP endpoint answers 503 with a page that says so,
// rather than a bare 404 that looks like a routing mistake.
func Unconfigured() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		renderPage(w, http.StatusServiceUnavailable, "unconfigured", page{
			Title:   "Single sign-on is not configured",
			Message: "No identity provider is configured (saml.idps in the extauthz configuration), so nobody can sign in here yet.",
		})
	})
}
