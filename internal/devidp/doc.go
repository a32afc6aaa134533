// Package devidp is a small, real SAML 2.0 Identity Provider for development
// and tests: `extauthz dev` runs it next to the SP, and tests drive it with
// an http.Client or build responses with NewResponse (and bare assertions,
// as an RFC 7522 bearer grant carries them, with NewAssertion).
//
// It speaks the profile tfgate's SP uses and nothing more: AuthnRequests
// arrive over the HTTP-Redirect binding (optionally signed), the user picks a
// demo account on a sign-in page, and the Response goes back over the
// HTTP-POST binding, with the Assertion and the Response both signed
// (RSA-SHA256, exclusive c14n, goxmldsig). There are no passwords: anyone who
// can reach the IdP can sign in as any demo user. That is why Serve and
// ListenAndServe refuse anything but loopback addresses unless
// Config.AllowNonLoopback is set, and why every page carries a
// "Development IdP — not for production" banner.
//
// Endpoints, under Config.BaseURL:
//
//	GET  /saml/idp/metadata    IdP metadata (EntityDescriptor)
//	GET  /saml/idp/sso         HTTP-Redirect AuthnRequest -> sign-in page
//	POST /saml/idp/sso/login   chosen user -> auto-submitting form to the ACS
//	GET  /saml/idp/slo         "signed out" page, or a redirect back to the SP
//
// The IdP never logs SAML messages, form tokens or cookies.
package devidp
