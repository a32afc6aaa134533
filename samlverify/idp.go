package samlverify

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// IdP is one trusted identity provider, as its metadata describes it. An
// IdP handed out by an IdPSource is never modified; a refresh builds new
// ones.
type IdP struct {
	// EntityID is the IdP's entity ID; Issuer elements must equal it.
	EntityID string
	// SigningCerts are all certificates the IdP signs with. A signature by
	// any of them is accepted, which is what lets an IdP roll its key over
	// without an SP restart.
	SigningCerts []*x509.Certificate
	// SSORedirectURL is the SingleSignOnService location for the
	// HTTP-Redirect binding, where AuthnRequests go. May be empty.
	SSORedirectURL string
	// SSOPostURL is the SingleSignOnService location for HTTP-POST. May be
	// empty.
	SSOPostURL string
	// SLORedirectURL is the SingleLogoutService location for HTTP-Redirect.
	// May be empty.
	SLORedirectURL string
	// SLOPostURL is the SingleLogoutService location for HTTP-POST. May be
	// empty.
	SLOPostURL string
	// NameIDFormats lists the NameIDFormat values the IdP supports.
	NameIDFormats []string
	// WantAuthnRequestsSigned is the IdP's WantAuthnRequestsSigned flag.
	WantAuthnRequestsSigned bool
	// ValidUntil is the metadata's validUntil (the earliest along the path
	// to this entity), or zero.
	ValidUntil time.Time
	// CacheDuration is the metadata's cacheDuration (the shortest along the
	// path), or zero.
	CacheDuration time.Duration
}

// IdPSet is an immutable set of IdPs with one default. It implements
// IdPSource; Source swaps a new IdPSet in on every refresh.
type IdPSet struct {
	byID  map[string]*IdP
	order []*IdP
	def   *IdP
}

// Interface guard.
var _ IdPSource = (*IdPSet)(nil)

// NewIdPSet returns a set of idps. defaultEntityID names the default IdP;
// when empty, the first IdP is the default. Entity IDs must be unique.
func NewIdPSet(idps []*IdP, defaultEntityID string) (*IdPSet, error) {
	if len(idps) == 0 {
		return nil, errors.New("samlverify: no identity provider")
	}
	s := &IdPSet{byID: make(map[string]*IdP, len(idps)), order: idps, def: idps[0]}
	for _, idp := range idps {
		if idp == nil || idp.EntityID == "" {
			return nil, errors.New("samlverify: identity provider without entity ID")
		}
		if s.byID[idp.EntityID] != nil {
			return nil, fmt.Errorf("samlverify: identity provider %q listed twice", idp.EntityID)
		}
		s.byID[idp.EntityID] = idp
	}
	if defaultEntityID != "" {
		if s.def = s.byID[defaultEntityID]; s.def == nil {
			return nil, fmt.Errorf("samlverify: default identity provider %q not found", defaultEntityID)
		}
	}
	return s, nil
}

// LookupIdP returns the IdP with entityID.
func (s *IdPSet) LookupIdP(entityID string) (*IdP, bool) {
	idp, ok := s.byID[entityID]
	return idp, ok
}

// Default returns the default IdP, where a login without a choice goes.
func (s *IdPSet) Default() *IdP { return s.def }

// All returns every IdP, in the order given to NewIdPSet. The slice must
// not be modified.
func (s *IdPSet) All() []*IdP { return s.order }
