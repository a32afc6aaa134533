package pysaml2idp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Respond answers an HTTP-Redirect AuthnRequest the way pysaml2's IdP
// would: it parses the request (parse_authn_request), checks the
// redirect-binding signature against the SP metadata's signing certificate
// when the request is signed, picks the ACS from the SP's metadata
// (response_args) and signs a Response for user (create_authn_response).
// It returns the base64 SAMLResponse to post to the ACS.
//
// authnRequest is the SP's redirect URL, its query string, or the bare
// SAMLRequest value (base64 of the deflated XML).
func (idp *IdP) Respond(authnRequest string, user User, opts ResponseOptions) (string, error) {
	if user.ID == "" {
		return "", errors.New("pysaml2idp: User.ID is required")
	}
	q, err := redirectQuery(authnRequest)
	if err != nil {
		return "", err
	}
	r, err := idp.call(request{Op: "respond", Query: q, User: toJSON(user), Opts: opts.args(nil)})
	return r.SAMLResponse, err
}

// Unsolicited makes an IdP-initiated (unsolicited) Response for user to the
// SP spEntityID, as pysaml2 makes one (create_authn_response without
// InResponseTo), addressed to the HTTP-POST ACS in the SP's metadata. It
// returns the base64 SAMLResponse and the ACS URL to post it to.
func (idp *IdP) Unsolicited(user User, spEntityID string, opts ResponseOptions) (samlResponse, acsURL string, err error) {
	if user.ID == "" || spEntityID == "" {
		return "", "", errors.New("pysaml2idp: User.ID and the SP's entity ID are required")
	}
	r, err := idp.call(request{Op: "unsolicited", User: toJSON(user), Opts: opts.args(map[string]any{"sp_entity_id": spEntityID})})
	return r.SAMLResponse, r.Destination, err
}

// Assertion returns a bare Assertion for user, signed by pysaml2, with a
// bearer SubjectConfirmation for opts.Recipient and no InResponseTo: what
// an RFC 7522 SAML 2.0 bearer grant carries (base64url-encode it for the
// "assertion" parameter).
func (idp *IdP) Assertion(user User, opts AssertionOptions) (string, error) {
	if user.ID == "" || opts.Audience == "" {
		return "", errors.New("pysaml2idp: User.ID and AssertionOptions.Audience are required")
	}
	r, err := idp.call(request{Op: "assertion", User: toJSON(user), Opts: map[string]any{
		"audience":       opts.Audience,
		"recipient":      opts.Recipient,
		"sig_alg":        opts.SigAlg,
		"digest_alg":     opts.DigestAlg,
		"name_id_format": opts.NameIDFormat,
	}})
	return r.Assertion, err
}

// LogoutOptions describes an IdP-initiated LogoutRequest.
type LogoutOptions struct {
	// Destination is the SP's SingleLogoutService URL. Required.
	Destination string
	// SPEntityID is the SP the request is for. default: "".
	SPEntityID string
	// POST uses the HTTP-POST binding (enveloped signature) instead of
	// HTTP-Redirect (query-string signature).
	POST bool
	// SessionIndexes are the sessions to end; none means all of the user's.
	SessionIndexes []string
	// RelayState goes along (HTTP-Redirect only).
	RelayState string
	// NameIDFormat is the NameID's format; default unspecified (User.ID).
	NameIDFormat string
	// SigAlg overrides the signature algorithm.
	SigAlg string
}

// Logout makes an IdP-initiated LogoutRequest for user the way pysaml2's
// IdP would (create_logout_request, signed): for HTTP-Redirect the URL to
// send the browser to; for HTTP-POST the SAMLRequest value to post to
// opts.Destination. It also returns the request's ID.
func (idp *IdP) Logout(user User, opts LogoutOptions) (string, string, error) {
	if user.ID == "" || opts.Destination == "" {
		return "", "", errors.New("pysaml2idp: User.ID and LogoutOptions.Destination are required")
	}
	r, err := idp.call(request{Op: "logout", User: toJSON(user), Opts: map[string]any{
		"destination":     opts.Destination,
		"sp_entity_id":    opts.SPEntityID,
		"post":            opts.POST,
		"session_indexes": opts.SessionIndexes,
		"relay_state":     opts.RelayState,
		"name_id_format":  opts.NameIDFormat,
		"sig_alg":         opts.SigAlg,
	}})
	if opts.POST {
		return r.SAMLRequest, r.ID, err
	}
	return r.Destination, r.ID, err
}

// LogoutResponse takes an SP's LogoutResponse in the HTTP-Redirect binding
// (the URL the SP redirected to, or its query) as pysaml2's IdP would: its
// query signature must verify with the SP metadata's signing certificate,
// then pysaml2 parses it (parse_logout_request_response). It returns the
// top-level status code and InResponseTo.
func (idp *IdP) LogoutResponse(redirect string) (status, inResponseTo string, err error) {
	if _, query, ok := strings.Cut(redirect, "?"); ok {
		redirect = query
	}
	values, err := url.ParseQuery(redirect)
	if err != nil {
		return "", "", fmt.Errorf("pysaml2idp: parsing the redirect query: %w", err)
	}
	q := map[string]string{}
	for _, k := range []string{"SAMLResponse", "RelayState", "SigAlg", "Signature"} {
		if v := values[k]; len(v) == 1 {
			q[k] = v[0]
		}
	}
	r, err := idp.call(request{Op: "logout_response", Query: q})
	return r.Status, r.InResponseTo, err
}

// redirectQuery returns the binding parameters from a redirect URL, a
// query string or a bare SAMLRequest value.
func redirectQuery(s string) (map[string]string, error) {
	if !strings.Contains(s, "SAMLRequest=") {
		if s == "" {
			return nil, errors.New("pysaml2idp: empty AuthnRequest")
		}
		return map[string]string{"SAMLRequest": s}, nil
	}
	if _, query, ok := strings.Cut(s, "?"); ok {
		s = query
	}
	values, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("pysaml2idp: parsing the redirect query: %w", err)
	}
	q := map[string]string{}
	for _, k := range []string{"SAMLRequest", "RelayState", "SigAlg", "Signature"} {
		if v, ok := values[k]; ok {
			if len(v) != 1 {
				return nil, fmt.Errorf("pysaml2idp: %s appears %d times", k, len(v))
			}
			q[k] = v[0]
		}
	}
	return q, nil
}

func toJSON(u User) jsonUser {
	return jsonUser{ID: u.ID, Name: u.Name, Email: u.Email, Groups: u.Groups}
}

// args are opts as idp.py reads them, added to extra (which may be nil).
func (opts ResponseOptions) args(extra map[string]any) map[string]any {
	if extra == nil {
		extra = map[string]any{}
	}
	extra["unsigned_assertion"] = opts.UnsignedAssertion
	extra["unsigned_response"] = opts.UnsignedResponse
	extra["sig_alg"] = opts.SigAlg
	extra["digest_alg"] = opts.DigestAlg
	extra["name_id_format"] = opts.NameIDFormat
	extra["encrypt"] = opts.Encrypt
	return extra
}
