// Package sp is tfgate's SAML 2.0 Service Provider: the HTTP endpoints a
// browser and an IdP talk to, built on samlverify. A *Handler serves, under
// "/saml/":
//
//	GET  /saml/login?return_to=PATH&idp=NAME  AuthnRequest (HTTP-Redirect) to the IdP
//	POST /saml/acs                            the IdP's Response (HTTP-POST) -> session cookie -> 303 return_to
//	GET  /saml/metadata                       this SP's metadata, for registering it with an IdP
//	GET  /saml/logout                         a confirmation page (or "signed out")
//	POST /saml/logout                         end the session, then the IdP's single logout
//	GET  /saml/logout?SAMLRequest=            the IdP's LogoutRequest (HTTP-Redirect): end its sessions, answer (slo.go)
//	POST /saml/logout  SAMLRequest=           the same in HTTP-POST (slo.go)
//	GET  /saml/whoami                         the caller's session as JSON (cookie or bearer)
//	GET  /saml/cli/authorize                  confirm a command-line client's sign-in (cli.go)
//	POST /saml/cli/authorize                  the confirmation: an authorization code for it (cli.go)
//
// and Handler.TokenHandler serves the token endpoint, POST /token and POST
// /token/revoke (token.go), for programs.
//
// # Binding a sign-in to the browser
//
// /saml/login remembers the AuthnRequest ID (Requests.Remember, RequestTTL)
// and also sets a short-lived binding cookie holding it. The ACS accepts a
// Response only if its InResponseTo equals the binding cookie's ID, so a
// Response obtained by someone else (for their own request) cannot be
// posted into a victim's browser to sign the victim in as the attacker
// (login CSRF), and the verifier consumes the ID so a Response is used once.
//
// The IdP's POST to the ACS is a cross-site request. In production
// (Secure cookies, an https BaseURL) the binding cookie is therefore
// SameSite=None; Secure, with the __Host- prefix so that no other host can
// set it. Browsers do not send SameSite=Lax cookies on a cross-site POST.
// In development over plain http (Config.Insecure) a cookie cannot be
// Secure, and SameSite=None is refused without Secure, so the binding
// cookie is SameSite=Lax: that works because a development IdP and the SP
// on 127.0.0.1 (different ports) are the same site, and the POST is then a
// same-site request. An SP on "localhost" with an IdP on "127.0.0.1" is
// cross-site and will not work in that mode.
//
// The session cookie is HttpOnly, Path=/, SameSite=Lax and, unless
// Insecure, Secure with the configured __Host- name. Lax keeps it off
// cross-site subrequests and POSTs while top-level navigations from other
// sites (a link to a model's status page) still carry it.
//
// # Where the user returns to
//
// return_to must be a path on this host ("/v1/models/m", not "//host",
// "/\\host", nor anything with control characters or a scheme), or an
// absolute URL on a host listed in Config.ReturnToHosts. It is checked at
// /saml/login and again at the ACS. It travels in RelayState when it fits
// the binding's 80 bytes, otherwise in the binding cookie.
//
// # Errors and logs
//
// Every failure is turned into an HTTP status and a plain page in one place
// (errors.go). The page names a support reference; the log line at this
// edge names the same reference and the samlverify reason code. Neither
// ever contains a SAML message, a NameID, a token or a cookie.
package sp
