package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/rego"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// samlStore is what the SP, its token endpoint and the verifier need of
// the session store beyond the Check path's Lookup: creating and deleting
// sessions, the one-time and replay-cache IDs, and token families.
type samlStore interface {
	sp.Sessions
	sp.SingleLogout
	sp.TokenStore
	samlverify.ReplayCache
}

// Interface guards: both stores serve the SP.
var (
	_ samlStore = (*session.Memory)(nil)
	_ samlStore = (*session.Redis)(nil)
)

// samlSP is the SAML Service Provider as serve runs it: the handlers for
// /saml/ and the token endpoint, and the IdP metadata sources to keep
// refreshed.
type samlSP struct {
	handler http.Handler
	token   http.Handler
	sources []*samlverify.Source
	names   []string // the configured name of each source
}

// idpStatus is one IdP's metadata state, for /statusz and metrics.
type idpStatus struct {
	Name         string      `json:"name"`
	EntityID     string      `json:"entity_id"`
	CertNotAfter time.Time   `json:"signing_cert_not_after,omitzero"`
	ValidUntil   time.Time   `json:"valid_until,omitzero"`
	LastRefresh  *idpRefresh `json:"last_refresh,omitempty"`
}

// idpStates reports every configured IdP; refreshes, when set, adds each
// one's last metadata refresh.
func (s *samlSP) idpStates(refreshes *idpState) []idpStatus {
	var out []idpStatus
	for i, src := range s.sources {
		idp := src.Default()
		st := idpStatus{Name: s.names[i], EntityID: idp.EntityID, ValidUntil: idp.ValidUntil}
		for _, c := range idp.SigningCerts {
			if st.CertNotAfter.IsZero() || c.NotAfter.Before(st.CertNotAfter) {
				st.CertNotAfter = c.NotAfter
			}
		}
		if refreshes != nil {
			if r, ok := refreshes.get(s.names[i]); ok {
				st.LastRefresh = &r
			}
		}
		out = append(out, st)
	}
	return out
}

// noTokens is what /token says when no IdP is configured.
const noTokens = "no identity provider is configured (saml.idps), so this server issues no tokens"

// newSAMLSP builds the SP of cfg on store. With no IdPs the handler only
// says that single sign-on is not configured. Loading IdP metadata is the
// only step that can fail at run time (a file or URL); the error names the
// IdP.
func newSAMLSP(ctx context.Context, cfg SAMLConfig, cookieName string, store samlStore, pages spPages, exchange sp.TokenExchanger, log *slog.Logger, refreshes *idpState) (*samlSP, error) {
	if !cfg.Enabled() {
		if exchange != nil {
			log.Warn("workload_identity.kubernetes is set but saml.idps is not: /token issues nothing, service-account tokens cannot be exchanged")
		}
		log.Info("saml: no IdP configured (saml.idps): /saml/login answers 503 and /token issues nothing until one is")
		return &samlSP{handler: sp.Unconfigured(), token: sp.UnconfiguredToken(noTokens)}, nil
	}
	var key *rsa.PrivateKey
	var cert *x509.Certificate
	if cfg.KeyFile != "" {
		var err error
		if key, cert, err = loadSPKeyPair(cfg.KeyFile, cfg.CertFile); err != nil {
			return nil, fmt.Errorf("saml.key_file: %w", err)
		}
	}
	var bindingKey []byte
	if cfg.BindingSecret != "" {
		bindingKey = []byte(cfg.BindingSecret)
	} else {
		log.Info("saml: no binding_secret; this process made a random one, so a sign-in must end at the replica it started on")
	}
	idps, names, err := loadIdPs(ctx, cfg, log, refreshes)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	entityID := cfg.EntityID
	if entityID == "" {
		entityID = base + sp.MetadataPath
	}
	verifier, err := samlverify.New(samlverify.Config{
		SPEntityID: entityID, ACSURL: base + sp.ACSPath, Skew: cfg.Skew, AllowSHA1: cfg.AllowSHA1,
		MaxResponseBytes: cfg.MaxResponseBytes,
		DecryptionKey:    key, DecryptionCert: cert,
		Attributes: samlverify.AttributeMap{Groups: cfg.Attributes.Groups, Email: cfg.Attributes.Email, DisplayName: cfg.Attributes.DisplayName},
	}, idps, store)
	if err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	h, err := sp.New(sp.Config{
		BaseURL: base, EntityID: entityID, Verifier: verifier, IdPs: idps, IdPNames: names,
		Sessions: store, Tokens: store, SingleLogout: store, BindingKey: bindingKey, CookieName: cookieName, Insecure: strings.HasPrefix(base, "http://"),
		SessionLifetime: cfg.SessionLifetime, RequestTTL: cfg.RequestTTL, ReturnToHosts: cfg.ReturnToHosts,
		TokenLifetime: cfg.TokenLifetime, RefreshLifetime: cfg.RefreshLifetime, MaxRotationsPerMinute: cfg.MaxRotationsPerMinute,
		NameIDFormat: cfg.NameIDFormat, Key: key, Cert: cert, SignRequests: cfg.SignRequests, Logger: log,
		MaxFormBytes: cfg.MaxFormBytes, IdPInitiated: idps.idpInitiated(cfg),
		Contact: pages.contact, Grants: pages.grants,
		OnEvent:  refreshes.spEvent,
		Exchange: exchange,
	})
	if err != nil {
		return nil, fmt.Errorf("saml: %w", err)
	}
	log.Info("saml: service provider ready", "entity_id", entityID, "acs", h.ACSURL(),
		"metadata", base+sp.MetadataPath, "token", base+sp.TokenPath, "idps", len(cfg.IdPs), "default_idp", idps.Default().EntityID)
	return &samlSP{handler: h, token: h.TokenHandler(), sources: idps.sources, names: idps.names}, nil
}

// spPages is what the SP's pages show besides the session: the contact
// line of the config and the policy's grants.
type spPages struct {
	contact string
	grants  func(groups []string) []sp.Grant
}

// policyGrants adapts the policy's data to the account page.
func policyGrants(policy *rego.Evaluator) func([]string) []sp.Grant {
	return func(groups []string) []sp.Grant {
		var out []sp.Grant
		for _, g := range policy.Grants(groups) {
			out = append(out, sp.Grant(g))
		}
		return out
	}
}

// Mount is the SP's part of the HTTP listener: /saml/, and the token and
// revocation endpoints (exact paths, as Envoy routes them); the listener's
// root sends a person to the account page.
func (s *samlSP) Mount() map[string]http.Handler {
	h, tok := spBudget{s.handler}, spBudget{s.token}
	return map[string]http.Handler{"/saml/": h, sp.TokenPath: tok, sp.RevokePath: tok,
		"GET /{$}": http.RedirectHandler(sp.HomePath, http.StatusFound)}
}

// spLookupTimeout is the Redis lookup budget of the SP's requests: the
// store's default UpdateTimeout, as for its writes, rather than the Check
// path's sessions.redis.timeout. Under overload a 50 ms budget failed
// refreshes and sign-outs with 503 in the soak (cmd/tfgate-soak).
const spLookupTimeout = time.Second

// spBudget serves the SP's requests with spLookupTimeout.
type spBudget struct{ h http.Handler }

func (b spBudget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.h.ServeHTTP(w, r.WithContext(session.WithLookupTimeout(r.Context(), spLookupTimeout)))
}

// Run refreshes every IdP's metadata until ctx is done.
func (s *samlSP) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, src := range s.sources {
		g.Go(func() error { return src.Run(ctx) })
	}
	return g.Wait()
}

// loadIdPs loads every configured IdP's metadata, one Source each (so each
// keeps its own refresh interval), and returns them with the short names.
func loadIdPs(ctx context.Context, cfg SAMLConfig, log *slog.Logger, refreshes *idpState) (*idpSources, map[string]string, error) {
	m := &idpSources{}
	names := make(map[string]string, len(cfg.IdPs))
	for i, c := range cfg.IdPs {
		refreshes.known(c.Name)
		started := time.Now()
		src, err := samlverify.NewSource(ctx, samlverify.SourceConfig{
			Metadata: []samlverify.MetadataSpec{{
				File: c.MetadataFile, URL: c.MetadataURL, CacheFile: c.CacheFile, PinnedSHA256: c.MetadataPins,
			}},
			Default: c.EntityID, RefreshInterval: c.RefreshInterval, AllowSHA1: cfg.AllowSHA1,
			OnCertExpiring: func(entityID string, cert *x509.Certificate) {
				log.Warn("saml: an IdP signing certificate expires soon; refresh its metadata", "idp", c.Name,
					"entity_id", entityID, "not_after", cert.NotAfter)
			},
			OnRefreshError: func(location string, err error) {
				log.Warn("saml: IdP metadata refresh failed; keeping the last good copy", "idp", c.Name,
					"location", location, "err", err)
			},
			OnRefresh: func(_ string, started time.Time, err error) {
				if refreshes != nil {
					refreshes.refreshed(c.Name, started, err)
				}
			},
		})
		refreshes.loaded(c.Name, started, err)
		if err != nil {
			return nil, nil, fmt.Errorf("saml.idps %q: %w%s", c.Name, err, samlDetail(err))
		}
		only := c.EntityID
		if other, dup := m.owner(src, only); dup {
			return nil, nil, fmt.Errorf("saml.idps %q: its metadata names an IdP that %q already does", c.Name, other)
		}
		m.sources, m.only, m.names = append(m.sources, src), append(m.only, only), append(m.names, c.Name)
		names[c.Name] = src.Default().EntityID
		if c.Default {
			m.def = i
		}
	}
	return m, names, nil
}

// idpSources is the trusted IdPs of several Sources: an sp.IdPs and a
// samlverify.IdPSource.
type idpSources struct {
	sources []*samlverify.Source
	only    []string // per source: its one trusted entity ID, or "" for all
	names   []string
	def     int
}

// Interface guards.
var (
	_ sp.IdPs              = (*idpSources)(nil)
	_ samlverify.IdPSource = (*idpSources)(nil)
)

// LookupIdP returns the IdP with entityID from whichever source has it. A
// source configured with an entity_id trusts that IdP only, even when its
// metadata describes more.
func (m *idpSources) LookupIdP(entityID string) (*samlverify.IdP, bool) {
	for i, s := range m.sources {
		if m.only[i] != "" && m.only[i] != entityID {
			continue
		}
		if idp, ok := s.LookupIdP(entityID); ok {
			return idp, true
		}
	}
	return nil, false
}

// idpInitiated returns sp.Config.IdPInitiated for cfg: the IdP with an
// entity ID may sign users in unsolicited when the idps entry that trusts
// it says idp_initiated.
func (m *idpSources) idpInitiated(cfg SAMLConfig) func(string) (time.Duration, bool) {
	return func(entityID string) (time.Duration, bool) {
		for i, s := range m.sources {
			if m.only[i] != "" && m.only[i] != entityID {
				continue
			}
			if _, ok := s.LookupIdP(entityID); ok {
				c := cfg.IdPs[i]
				return c.IdPInitiatedMaxAge, c.IdPInitiated
			}
		}
		return 0, false
	}
}

// Default returns the default IdP: that of the entry marked default, or
// of the first.
func (m *idpSources) Default() *samlverify.IdP { return m.sources[m.def].Default() }

// owner reports which already-loaded source also trusts one of the IdPs
// src trusts (all of them, or only the one named only).
func (m *idpSources) owner(src *samlverify.Source, only string) (string, bool) {
	for _, idp := range src.All() {
		if only != "" && idp.EntityID != only {
			continue
		}
		for i, s := range m.sources {
			if _, ok := s.LookupIdP(idp.EntityID); ok && (m.only[i] == "" || m.only[i] == idp.EntityID) {
				return m.names[i], true
			}
		}
	}
	return "", false
}

// samlDetail returns the causes samlverify keeps out of its fixed error
// texts, for a startup error: " (reason: cause; ...)", or "". samlverify
// guarantees they quote nothing from the document.
func samlDetail(err error) string {
	var parts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		var se *samlverify.Error
		if errors.As(e, &se) && se == e {
			cause := errors.Unwrap(se)
			if cause == nil {
				parts = append(parts, string(se.Reason))
			} else if _, nested := cause.(*samlverify.Error); !nested {
				parts = append(parts, string(se.Reason)+": "+cause.Error())
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
