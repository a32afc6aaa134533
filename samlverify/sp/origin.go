package sp

import "net/http"

// crossSite reports whether a browser says a form POST did not come from
// this site's own pages: fetch metadata marking it cross-site or same-site
// (a sibling host), or an Origin naming another origin. Every
// cookie-authenticated form (logout, CLI consent) refuses such a request,
// even with a valid form token.
//
// Origin: null says nothing either way: our pages send Referrer-Policy:
// no-referrer, under which browsers post our own forms with Origin: null.
// Callers still require their own proof (fetch metadata or a form token).
func (h *Handler) crossSite(r *http.Request) bool {
	site, origin := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")
	return site == "cross-site" || site == "same-site" || (origin != "" && origin != "null" && origin != h.origin)
}
