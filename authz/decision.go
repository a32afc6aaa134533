package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/tfgate/tfgate/authz/tfserving"
)

// Identity headers tfgate sets on every allowed request. Clients can never
// supply them: they are overwritten, or removed when there is no identity.
const (
	HeaderUser       = "x-tfgate-user"
	HeaderEmail      = "x-tfgate-email"
	HeaderGroups     = "x-tfgate-groups"
	HeaderSession    = "x-tfgate-session"
	HeaderDecisionID = "x-tfgate-decision-id"
	// HeaderPrefix is the prefix every tfgate header starts with; any other
	// client-sent header with it is removed too.
	HeaderPrefix = "x-tfgate-"
)

// identityHeaders lists the names above in a stable order.
var identityHeaders = []string{HeaderUser, HeaderEmail, HeaderGroups, HeaderSession, HeaderDecisionID}

// Denial says why a request was denied, and so how the edge answers it.
type Denial int

// The kinds of denial.
const (
	// NotDenied is the zero value, for allowed requests.
	NotDenied Denial = iota
	// DenyUnauthenticated: no valid credential; browsers are sent to sign
	// in, others get 401.
	DenyUnauthenticated
	// DenyForbidden: the policy said no to this caller (403, or the
	// policy's status).
	DenyForbidden
	// DenyBadRequest: the request is malformed or ambiguous (400).
	DenyBadRequest
)

// Header is one header name and value.
type Header struct {
	Name  string
	Value string
}

// Decision is the outcome of a Check that could decide.
type Decision struct {
	// ID identifies this decision in logs and in x-tfgate-decision-id.
	ID    string
	Allow bool
	// Denial classifies a deny; NotDenied when allowed.
	Denial Denial
	// Status is an HTTP status chosen by the policy for a deny; 0 means the
	// edge picks one from Denial.
	Status int
	// Reason is safe to show the caller and to log.
	Reason string
	// Subject is the caller, nil when anonymous.
	Subject *Subject
	// SessionHandle is a short hash of the credential, safe to log.
	SessionHandle string
	// StaleCredential is the kind (AuthBearer, AuthCookie) of a credential
	// the caller presented that names no live session: expired, revoked
	// or unknown. Empty when none was presented or it was accepted. The
	// edge tells such a caller to sign in again (RFC 6750 invalid_token).
	StaleCredential string
	// Targets are what the request asked TF Serving for.
	Targets []tfserving.Target
	// Set are the headers to set (overwrite) upstream on allow, or extra
	// headers for the client on deny.
	Set []Header
	// Remove are the headers to remove before the request goes upstream.
	Remove []string
	// Cookie, when CookieChanged, replaces the Cookie header upstream (the
	// session cookie stripped, every other cookie kept); empty removes it.
	Cookie        string
	CookieChanged bool
	// PolicyRevision identifies the policy that decided, if any did.
	PolicyRevision string
}

// SessionHandle returns a short, one-way handle for a credential, for the
// x-tfgate-session header and logs. It is domain-separated from the store's
// key hash, so it reveals nothing about where the session is kept.
func SessionHandle(token string) string {
	const domain = "tfgate session handle\x00"
	// Hashed from a stack buffer (tokens are under 100 bytes): no
	// allocation but the returned string.
	var buf [128]byte
	sum := sha256.Sum256(append(append(buf[:0], domain...), token...))
	var out [16]byte
	hex.Encode(out[:], sum[:8])
	return string(out[:])
}

// TokenRef names the session token names without the token: its handle
// and the hex SHA-256 under which stores keep it, "handle:hash". A store
// can delete a session by its ref (Session.Replaces); the ref reveals
// nothing that opens the session.
func TokenRef(token string) string {
	sum := sha256.Sum256([]byte(token))
	return SessionHandle(token) + ":" + hex.EncodeToString(sum[:])
}

// unforwardable names the first identity attribute of s that cannot be an
// HTTP header value, or returns "" when all can (and when s is nil).
func unforwardable(s *Subject) string {
	if s == nil {
		return ""
	}
	switch {
	case !IsHeaderValue(s.ID):
		return "user id"
	case !IsHeaderValue(s.Email):
		return "email"
	}
	// Group names are always forwardable: x-tfgate-groups encodes any
	// byte (EncodeGroups).
	return ""
}

// IsHeaderValue reports whether Envoy accepts v as a header value:
// HTAB, SP through '~', and obs-text (0x80-0xFF, so UTF-8 passes); no
// other control character, DEL included. With validate_mutations: true
// Envoy answers a CheckResponse header outside this set with a 500
// (HeaderUtility::headerValueIsValid, header_utility.cc:127-130 at v1.36.2,
// which is quiche's HeaderValidator::IsValidHeaderValue with obs-text
// allowed).
func IsHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\t' && (c < ' ' || c == 0x7f) {
			return false
		}
	}
	return true
}

// sets reports whether d.Set has a header named name.
func (d *Decision) sets(name string) bool {
	for _, h := range d.Set {
		if h.Name == name {
			return true
		}
	}
	return false
}

// upstreamHeaders fills d.Set and d.Remove for an allowed request: identity
// headers overwritten, every client-sent x-tfgate-* header and the tfgate
// credential removed.
func (d *Decision) upstreamHeaders(r *Request, cred Credential, cookieName string, extra map[string]string) {
	if d.Set == nil {
		d.Set = make([]Header, 0, len(identityHeaders)+len(extra))
	}
	if d.Subject != nil {
		d.Set = append(d.Set,
			Header{HeaderUser, d.Subject.ID},
			Header{HeaderEmail, d.Subject.Email},
			Header{HeaderGroups, EncodeGroups(d.Subject.Groups)},
			Header{HeaderSession, d.SessionHandle},
		)
	}
	d.Set = append(d.Set, Header{HeaderDecisionID, d.ID})
	for name, value := range extra {
		d.Set = append(d.Set, Header{strings.ToLower(name), value})
	}
	// An empty value would reach the upstream as an empty header; remove
	// the name instead so "absent" stays absent. d.Set holds a handful of
	// names, so membership is a scan, not a map built on every Check.
	kept := d.Set[:0]
	for _, h := range d.Set {
		if h.Value != "" {
			kept = append(kept, h)
		}
	}
	d.Set = kept
	for _, name := range identityHeaders {
		if !d.sets(name) {
			d.Remove = append(d.Remove, name)
		}
	}
	for name := range r.Header {
		// Only names that start with the prefix are lowercased (and so
		// allocate): Header keys are canonical ("X-Tfgate-User"), and most
		// of a request's headers are not tfgate's.
		if len(name) < len(HeaderPrefix) || !strings.EqualFold(name[:len(HeaderPrefix)], HeaderPrefix) {
			continue
		}
		if l := strings.ToLower(name); !d.sets(l) && !slices.Contains(identityHeaders, l) {
			d.Remove = append(d.Remove, l)
		}
	}
	switch cred.Kind {
	case AuthBearer:
		d.Remove = append(d.Remove, "authorization")
	case AuthCookie:
		// Several Cookie values (encode_raw_headers) are joined as Envoy
		// joins repeated headers; the result replaces all of them.
		d.Cookie, _ = StripCookie(strings.Join(r.Header.Values("Cookie"), ","), cookieName)
		d.CookieChanged = true
	}
}
