package devidp

import "errors"

// Sentinel errors; wrapped errors carry the detail. Handlers map them to
// HTTP statuses in one place (httpStatus).
var (
	// ErrConfig: Config is invalid; the wrapping error names the field.
	ErrConfig = errors.New("devidp: invalid config")
	// ErrNotLoopback: Serve or ListenAndServe was given an address other
	// than a loopback one while Config.AllowNonLoopback is false.
	ErrNotLoopback = errors.New("devidp: refusing to serve on a non-loopback address (the development IdP signs anyone in; set AllowNonLoopback to override)")
	// ErrNotBound: the IdP's URLs are not known yet, because Config.BaseURL
	// was empty and Serve has not been called.
	ErrNotBound = errors.New("devidp: base URL unknown (set Config.BaseURL or call Serve first)")
	// ErrMalformedRequest: the AuthnRequest or its binding is not valid.
	ErrMalformedRequest = errors.New("devidp: malformed AuthnRequest")
	// ErrUnknownSP: the AuthnRequest's Issuer is not a configured SP.
	ErrUnknownSP = errors.New("devidp: unknown service provider")
	// ErrACSNotAllowed: the requested AssertionConsumerServiceURL is not in
	// the SP's allow-list.
	ErrACSNotAllowed = errors.New("devidp: AssertionConsumerServiceURL not allowed for this service provider")
	// ErrDestination: the AuthnRequest's Destination is not this IdP's SSO URL.
	ErrDestination = errors.New("devidp: AuthnRequest Destination is not this IdP")
	// ErrSignature: the SP has a certificate configured and the request's
	// redirect-binding signature is missing, uses a refused algorithm or
	// does not verify.
	ErrSignature = errors.New("devidp: AuthnRequest signature missing or invalid")
	// ErrCSRF: the sign-in form's token is missing, unknown, expired,
	// already used or not bound to this browser.
	ErrCSRF = errors.New("devidp: sign-in form expired or invalid; start again from the application")
	// ErrUnknownUser: the chosen user is not configured.
	ErrUnknownUser = errors.New("devidp: unknown user")
	// ErrReturnURL: a logout return URL is not on a configured SP's origin.
	ErrReturnURL = errors.New("devidp: return URL not allowed")
	// ErrBusy: too many sign-ins are pending; try again shortly.
	ErrBusy = errors.New("devidp: too many pending sign-ins")
)
