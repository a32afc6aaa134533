package authz

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Credential kinds that are not a presented tfgate token, as policies see
// them in input.subject.auth.
const (
	// AuthMTLS is a workload the mesh authenticated with mutual TLS: Envoy
	// reports its SPIFFE ID as the CheckRequest's source.principal.
	AuthMTLS = "mtls"
	// AuthK8s is a bearer token the token endpoint issued in exchange for
	// a Kubernetes service-account token (RFC 8693).
	AuthK8s = "k8s"
)

// PeerIdentity turns the mesh peer identity Envoy puts in a CheckRequest
// (attributes.source.principal, the URI SAN of the client certificate of an
// mTLS connection, e.g. "spiffe://cluster.local/ns/batch/sa/scorer") into a
// Subject, for callers that present no cookie and no bearer token.
//
// Only the CheckRequest attribute is read, never a request header: a
// header is whatever the client wrote, while source.principal is what
// Envoy verified. A principal is accepted only when it is a well-formed
// SPIFFE ID of one of TrustDomains and matches none of Exclude.
type PeerIdentity struct {
	// TrustDomains are the SPIFFE trust domains whose workloads are
	// accepted ("cluster.local"). Required.
	TrustDomains []string
	// Exclude are path.Match patterns of principals never accepted, such
	// as the ingress gateway's, whose mTLS identity is not its clients'
	// ("spiffe://cluster.local/ns/istio-system/sa/*"). default: none.
	Exclude []string
	// Groups maps a principal, or a path.Match pattern of principals, to
	// the groups the subject gets; every matching entry adds its groups.
	// default: none (the policy can still grant by subject id).
	Groups map[string][]string
}

// ErrPeerConfig means a PeerIdentity that cannot be used.
var ErrPeerConfig = errors.New("authz: invalid peer identity configuration")

// Validate reports what is wrong with p.
func (p *PeerIdentity) Validate() error {
	if len(p.TrustDomains) == 0 {
		return fmt.Errorf("%w: no trust domain", ErrPeerConfig)
	}
	for _, td := range p.TrustDomains {
		if !validTrustDomain(td) {
			return fmt.Errorf("%w: trust domain %q: lowercase letters, digits, '.', '-' and '_' only", ErrPeerConfig, td)
		}
	}
	for _, pat := range p.Exclude {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("%w: exclude pattern %q: %w", ErrPeerConfig, pat, err)
		}
	}
	for pat := range p.Groups {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("%w: groups pattern %q: %w", ErrPeerConfig, pat, err)
		}
	}
	return nil
}

// Subject returns the subject for principal, or false when principal is
// not an accepted workload identity.
func (p *PeerIdentity) Subject(principal string) (*Subject, bool) {
	td, ok := spiffeTrustDomain(principal)
	if !ok || !p.trusted(td) {
		return nil, false
	}
	for _, pat := range p.Exclude {
		if matchPrincipal(pat, principal) {
			return nil, false
		}
	}
	var groups []string
	for pat, gs := range p.Groups {
		if matchPrincipal(pat, principal) {
			groups = appendNew(groups, gs...)
		}
	}
	if groups == nil {
		groups = []string{}
	}
	slices.Sort(groups)
	return &Subject{ID: principal, Groups: groups, IdP: "spiffe://" + td, Auth: AuthMTLS}, true
}

func (p *PeerIdentity) trusted(td string) bool { return slices.Contains(p.TrustDomains, td) }

func matchPrincipal(pattern, principal string) bool {
	ok, err := path.Match(pattern, principal)
	return err == nil && ok
}

// spiffeTrustDomain returns the trust domain of a SPIFFE ID, checked
// against the SPIFFE ID specification: scheme "spiffe", a trust domain of
// [a-z0-9._-], a path of non-empty segments of [A-Za-z0-9._-] that are not
// "." or "..", no query, fragment, port or user info. Anything else is
// refused rather than normalised.
func spiffeTrustDomain(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok || len(id) > 2048 {
		return "", false
	}
	td, p, _ := strings.Cut(rest, "/")
	if !validTrustDomain(td) || p == "" {
		return "", false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
		for i := range len(seg) {
			if !spiffeChar(seg[i], true) {
				return "", false
			}
		}
	}
	return td, true
}

func validTrustDomain(td string) bool {
	if td == "" || len(td) > 255 {
		return false
	}
	for i := range len(td) {
		if !spiffeChar(td[i], false) {
			return false
		}
	}
	return true
}

func spiffeChar(c byte, upper bool) bool {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		return true
	case upper && 'A' <= c && c <= 'Z':
		return true
	}
	return false
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}
