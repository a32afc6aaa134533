package authz

import (
	"context"
	"time"
)

// Session is what tfgate knows about a signed-in caller. It is created from a
// verified SAML assertion and looked up by the opaque credential the caller
// presents (cookie or bearer token).
type Session struct {
	// Subject is the SAML NameID.
	Subject string `json:"sub"`
	// Email is the mapped email attribute; may be empty.
	Email string `json:"email,omitempty"`
	// Name is the mapped display name; may be empty.
	Name string `json:"name,omitempty"`
	// Groups are the mapped group attribute values, in IdP order.
	Groups []string `json:"groups,omitempty"`
	// IdP is the entity ID of the IdP that asserted the identity.
	IdP string `json:"idp,omitempty"`
	// Scope, when non-empty, limits a token to these models and APIs
	// ("model:resnet", "model:bert:predict").
	Scope []string `json:"scope,omitempty"`
	// CreatedAt is when the session was created.
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is the absolute end of the session.
	ExpiresAt time.Time `json:"expires_at"`
	// SessionIndex is the IdP's SessionIndex for the sign-in, and
	// NameIDFormat the Format of the NameID in Subject: what a SAML
	// LogoutRequest to the IdP names. Both may be empty (a session from the
	// token endpoint, or an IdP that sends none).
	SessionIndex string `json:"sidx,omitempty"`
	NameIDFormat string `json:"nidf,omitempty"`
	// Family, set on the tokens and records the token endpoint mints,
	// names what they descend from, as a path: "ROOT/GRANT" for tokens
	// from a browser session (ROOT its SessionHandle, GRANT one
	// authorization code and the refresh chain it started), or ROOT alone
	// for a SAML assertion exchange (the handle of its first refresh
	// token's record). Revoking a family revokes every session in it or
	// below it: signing out of a browser session revokes ROOT, a reused
	// refresh token or code its grant. Empty for a browser session.
	Family string `json:"fam,omitempty"`
	// Access and Replaces, on a refresh token's record only: Access names
	// (TokenRef) the access token issued with it; Replaces names what
	// rotating it deletes: the access token before that one, and the
	// record of the refresh token it replaced (kept until then as the
	// tombstone that detects its reuse). So a grant holds the same few
	// entries however often it rotates.
	Access   string   `json:"acc,omitempty"`
	Replaces []string `json:"rep,omitempty"`
	// RotationWindow and Rotations, on a refresh token's record only,
	// count the rotations of its grant since RotationWindow, for the
	// token endpoint's per-grant rotation rate cap.
	RotationWindow time.Time `json:"rw,omitzero"`
	Rotations      int       `json:"rn,omitempty"`
	// Auth, when set, is how the identity was established when that was
	// not a SAML sign-in: AuthK8s for a token exchanged for a Kubernetes
	// service-account token. Policies then see it as subject.auth instead
	// of the credential kind. Empty for SAML sessions and their tokens.
	Auth string `json:"auth,omitempty"`
}

// Credential kinds, as policies see them in input.subject.auth.
const (
	AuthCookie = "cookie"
	AuthBearer = "bearer"
)

// SessionStore finds the session a credential names.
//
// Lookup returns ErrNoSession (possibly wrapped) when the credential names no
// live session. Any other error means the store could not answer (Redis down,
// a timeout) and the caller must treat it as "could not decide", never as
// "anonymous".
type SessionStore interface {
	Lookup(ctx context.Context, token string) (Session, error)
}
