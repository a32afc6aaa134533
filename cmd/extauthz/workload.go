package main

import (
	"context"
	"errors"
	"log/slog"
	"path"
	"slices"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/kubejwt"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// WorkloadIdentityConfig lets programs in a cluster call TF Serving
// without a browser sign-in: by their mesh mTLS identity, or by exchanging
// their Kubernetes service-account token at /token (RFC 8693). Both are
// off by default. docs/kubernetes.md explains the setup.
type WorkloadIdentityConfig struct {
	// Groups maps an identity, or a path.Match pattern of identities, to
	// groups for the policy's grants: SPIFFE IDs for mTLS
	// ("spiffe://cluster.local/ns/batch/sa/*"), service-account subjects
	// for exchanged tokens ("system:serviceaccount:batch:scorer"). Every
	// matching entry adds its groups. Default: none (the default policy
	// can still grant by subject id, data.tfgate.subject_grants).
	Groups map[string][]string `yaml:"groups"`
	// MTLS identifies callers without a credential by the peer identity
	// Envoy verified (the CheckRequest's source.principal).
	MTLS MTLSIdentityConfig `yaml:"mtls"`
	// Kubernetes enables the token exchange of service-account tokens.
	Kubernetes KubernetesIdentityConfig `yaml:"kubernetes"`
}

// MTLSIdentityConfig configures mesh peer identities.
type MTLSIdentityConfig struct {
	// TrustDomains are the SPIFFE trust domains accepted; empty turns
	// mTLS identities off. Default: [] (off).
	TrustDomains []string `yaml:"trust_domains"`
	// Exclude are path.Match patterns of principals never accepted:
	// gateways, whose mTLS identity is not their clients'. Default:
	// ["spiffe://*/ns/istio-system/sa/*"].
	Exclude []string `yaml:"exclude"`
}

// KubernetesIdentityConfig configures the service-account token exchange.
type KubernetesIdentityConfig struct {
	// Issuer is the exact "iss" of the cluster's service-account tokens;
	// empty turns the exchange off. Default: "" (off).
	Issuer string `yaml:"issuer"`
	// Audiences: an exchanged token's "aud" must name one (the audience
	// of the pod's projected token). Default: ["tfgate"].
	Audiences []string `yaml:"audiences"`
	// DiscoveryURL, JWKSURL or JWKSFile (exactly one) say where the
	// issuer's keys are: its OIDC discovery document, its JWKS, or a file
	// holding the JWKS. Default: "".
	DiscoveryURL string `yaml:"discovery_url"`
	JWKSURL      string `yaml:"jwks_url"`
	JWKSFile     string `yaml:"jwks_file"`
	// BearerTokenFile is sent as a bearer token when fetching keys (the
	// API server may require one). Default: "".
	BearerTokenFile string `yaml:"bearer_token_file"`
	// CAFile holds the CA certificates HTTPS key fetches trust instead of
	// the system's (in a pod: the cluster CA,
	// /var/run/secrets/kubernetes.io/serviceaccount/ca.crt). Default: "".
	CAFile string `yaml:"ca_file"`
	// Refresh is how often the keys are fetched again. Default: 10m.
	Refresh time.Duration `yaml:"refresh"`
}

func defaultWorkloadIdentityConfig() WorkloadIdentityConfig {
	return WorkloadIdentityConfig{
		Groups:     map[string][]string{},
		MTLS:       MTLSIdentityConfig{TrustDomains: []string{}, Exclude: []string{"spiffe://*/ns/istio-system/sa/*"}},
		Kubernetes: KubernetesIdentityConfig{Audiences: []string{"tfgate"}, Refresh: 10 * time.Minute},
	}
}

func (c *WorkloadIdentityConfig) validate(bad badFunc) {
	for pat := range c.Groups {
		if _, err := path.Match(pat, ""); err != nil {
			bad("workload_identity.groups", "%q is not a valid pattern: %v", pat, err)
		}
	}
	if p := c.peers(); p != nil {
		if err := p.Validate(); err != nil {
			bad("workload_identity.mtls", "%v", err)
		}
	}
	k := c.Kubernetes
	if k.Issuer == "" {
		return
	}
	if len(k.Audiences) == 0 {
		bad("workload_identity.kubernetes.audiences", "name at least one audience (the projected token's audience)")
	}
	n := 0
	for _, s := range []string{k.DiscoveryURL, k.JWKSURL, k.JWKSFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		bad("workload_identity.kubernetes", "set exactly one of discovery_url, jwks_url and jwks_file")
	}
	if k.Refresh <= 0 {
		bad("workload_identity.kubernetes.refresh", "must be positive")
	}
}

// peers is the authorizer's mTLS configuration, nil when off.
func (c *WorkloadIdentityConfig) peers() *authz.PeerIdentity {
	if len(c.MTLS.TrustDomains) == 0 {
		return nil
	}
	return &authz.PeerIdentity{TrustDomains: c.MTLS.TrustDomains, Exclude: c.MTLS.Exclude, Groups: c.Groups}
}

// exchanger is the token endpoint's service-account token exchange, nil
// when off.
func (c *WorkloadIdentityConfig) exchanger(log *slog.Logger) (sp.TokenExchanger, error) {
	k := c.Kubernetes
	if k.Issuer == "" {
		return nil, nil
	}
	v, err := kubejwt.New(kubejwt.Config{
		Issuer: k.Issuer, Audiences: k.Audiences, DiscoveryURL: k.DiscoveryURL, JWKSURL: k.JWKSURL,
		JWKSFile: k.JWKSFile, BearerTokenFile: k.BearerTokenFile, CAFile: k.CAFile, Refresh: k.Refresh, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &serviceAccounts{verifier: v, groups: c.Groups}, nil
}

// serviceAccounts adapts kubejwt to the token endpoint.
type serviceAccounts struct {
	verifier *kubejwt.Verifier
	groups   map[string][]string
}

var _ sp.TokenExchanger = (*serviceAccounts)(nil)

// Exchange verifies a service-account token. A refusal's message is one of
// kubejwt's static sentinel messages, safe for the client.
func (s *serviceAccounts) Exchange(ctx context.Context, token string) (authz.Session, error) {
	sa, err := s.verifier.Verify(ctx, token)
	if errors.Is(err, kubejwt.ErrUnavailable) {
		return authz.Session{}, errors.Join(sp.ErrExchangeUnavailable, err)
	}
	if err != nil {
		return authz.Session{}, safeSentinel(err)
	}
	return authz.Session{
		Subject: sa.Subject, Groups: groupsFor(s.groups, sa.Subject), IdP: sa.Issuer,
		Auth: authz.AuthK8s, ExpiresAt: sa.Expiry,
	}, nil
}

// safeSentinel returns the kubejwt sentinel err wraps, dropping causes
// (go-jose's messages) the client has no use for.
func safeSentinel(err error) error {
	for _, s := range []error{
		kubejwt.ErrMalformed, kubejwt.ErrAlgorithm, kubejwt.ErrUnknownKey, kubejwt.ErrSignature,
		kubejwt.ErrIssuer, kubejwt.ErrAudience, kubejwt.ErrExpired, kubejwt.ErrNotYetValid,
		kubejwt.ErrNotServiceAccount,
	} {
		if errors.Is(err, s) {
			return s
		}
	}
	return kubejwt.ErrMalformed
}

// groupsFor returns the groups every matching pattern of m gives id,
// sorted, without duplicates.
func groupsFor(m map[string][]string, id string) []string {
	var out []string
	for pat, gs := range m {
		if ok, err := path.Match(pat, id); err == nil && ok {
			for _, g := range gs {
				if !slices.Contains(out, g) {
					out = append(out, g)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
