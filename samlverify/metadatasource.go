package samlverify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	dsig "github.com/russellhaering/goxmldsig"
)

// Defaults for SourceConfig fields left zero.
const (
	DefaultRefreshInterval = time.Hour
	DefaultRetryInterval   = 5 * time.Minute
	DefaultExpiryWarning   = 30 * 24 * time.Hour
	// minRefresh keeps a tiny cacheDuration or an imminent validUntil from
	// turning the refresh loop into a busy loop.
	minRefresh = 30 * time.Second
)

// SourceConfig configures a Source.
type SourceConfig struct {
	// Metadata lists the metadata documents to load; each may describe one
	// IdP or many. Required.
	Metadata []MetadataSpec
	// Default is the entity ID of the default IdP. default: the first IdP of
	// the first document.
	Default string
	// Client fetches URL metadata. default: an *http.Client with a 30s
	// timeout.
	Client *http.Client
	// RefreshInterval is the longest time between refreshes of a document;
	// a shorter cacheDuration, or validUntil, brings the next one forward.
	// default: 1h.
	RefreshInterval time.Duration
	// RetryInterval is the wait after a failed refresh. default: 5m.
	RetryInterval time.Duration
	// MaxBytes caps each document. default: DefaultMaxMetadataBytes.
	MaxBytes int
	// AllowSHA1 accepts SHA-1 metadata signatures. default: false.
	AllowSHA1 bool
	// ExpiryWarning is how close to its NotAfter a signing certificate gets
	// OnCertExpiring called. default: 30 days.
	ExpiryWarning time.Duration
	// Clock is the time source for validUntil, certificates and timers.
	// default: nil, real time.
	Clock *dsig.Clock
	// OnCertExpiring, when set, is called after every load for each signing
	// certificate within ExpiryWarning of its NotAfter (or past it).
	// default: nil.
	OnCertExpiring func(entityID string, cert *x509.Certificate)
	// OnRefreshError, when set, is called with the document's location
	// (its File or URL) whenever a refresh fails and the last good copy is
	// kept. The error never quotes the document. default: nil.
	OnRefreshError func(location string, err error)
	// OnRefresh, when set, is called after every refresh of a document
	// (not the initial load) with when it started and its outcome: nil, or
	// the error for which the last good copy was kept. default: nil.
	OnRefresh func(location string, started time.Time, err error)
}

// MetadataSpec is one metadata document: a local File or an HTTPS URL.
type MetadataSpec struct {
	// File is a local path. Exactly one of File and URL is set.
	File string
	// URL is an https:// URL.
	URL string
	// CacheFile, for URL metadata, is where the last good copy is written
	// (atomically, mode 0600) and read from at start when the URL cannot be
	// fetched. default: none.
	CacheFile string
	// PinnedCerts and PinnedSHA256 pin the document's signature; see
	// MetadataOptions. default: none (the signature is not checked).
	PinnedCerts  []*x509.Certificate
	PinnedSHA256 []string
}

// location names spec in errors and hooks.
func (m MetadataSpec) location() string {
	if m.URL != "" {
		return m.URL
	}
	return m.File
}

// Source is an IdPSource backed by metadata documents that it refreshes.
// A refresh that fails, for any reason, keeps the last good copy of that
// document. It is safe for concurrent use.
type Source struct {
	cfg     SourceConfig
	mu      sync.Mutex // serializes loads; guards entries
	entries []*entry
	set     atomic.Pointer[IdPSet]
}

// entry is the state of one document.
type entry struct {
	spec MetadataSpec
	md   *Metadata // last good copy
	next time.Time // when it is due for refresh
}

// Interface guard.
var _ IdPSource = (*Source)(nil)

// NewSource validates cfg and loads every document: a URL from the network
// or, failing that, from its CacheFile. It fails if any document has no
// good copy, or if the documents together name an entity twice.
func NewSource(ctx context.Context, cfg SourceConfig) (*Source, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg}
	now := cfg.Clock.Now()
	raws := make([][]byte, len(cfg.Metadata))
	for i, spec := range cfg.Metadata {
		md, raw, err := s.fetch(ctx, spec)
		if err != nil && spec.CacheFile != "" {
			s.report(spec.location(), err)
			md, err = s.loadCache(spec)
		}
		if err != nil {
			return nil, fmt.Errorf("samlverify: loading metadata %s: %w", spec.location(), err)
		}
		raws[i] = raw
		s.entries = append(s.entries, &entry{spec: spec, md: md, next: s.nextRefresh(md, now)})
	}
	if err := s.publish(); err != nil {
		return nil, err
	}
	for i, e := range s.entries {
		s.saveCache(e.spec, raws[i])
	}
	return s, nil
}

// withDefaults validates cfg and fills its defaults.
func (cfg SourceConfig) withDefaults() (SourceConfig, error) {
	if len(cfg.Metadata) == 0 {
		return cfg, errors.New("samlverify: SourceConfig.Metadata is empty")
	}
	for _, m := range cfg.Metadata {
		if (m.File == "") == (m.URL == "") {
			return cfg, errors.New("samlverify: each metadata entry needs exactly one of File and URL")
		}
		if u, err := url.Parse(m.URL); m.URL != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
			return cfg, errors.New("samlverify: metadata URLs must be https")
		}
		if _, err := parseFingerprints(m.PinnedSHA256); err != nil {
			return cfg, err
		}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.RefreshInterval = orDefault(cfg.RefreshInterval, DefaultRefreshInterval)
	cfg.RetryInterval = min(orDefault(cfg.RetryInterval, DefaultRetryInterval), cfg.RefreshInterval)
	cfg.ExpiryWarning = orDefault(cfg.ExpiryWarning, DefaultExpiryWarning)
	return cfg, nil
}

// orDefault returns d when v is not positive.
func orDefault(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}

// LookupIdP returns the IdP with entityID from the current copy.
func (s *Source) LookupIdP(entityID string) (*IdP, bool) {
	return s.set.Load().LookupIdP(entityID)
}

// Default returns the default IdP.
func (s *Source) Default() *IdP { return s.set.Load().Default() }

// All returns every IdP of the current copy.
func (s *Source) All() []*IdP { return s.set.Load().All() }

// Refresh reloads every document now. A document that fails keeps its last
// good copy; the errors are reported to OnRefreshError and returned joined.
func (s *Source) Refresh(ctx context.Context) error {
	return s.refresh(ctx, func(*entry) bool { return true })
}

// Run refreshes each document when it is due until ctx is done, and then
// returns nil. Run it once, for example under an errgroup.
func (s *Source) Run(ctx context.Context) error {
	for {
		wait := max(s.nextDue().Sub(s.cfg.Clock.Now()), 0)
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Clock.After(wait):
		}
		now := s.cfg.Clock.Now()
		_ = s.refresh(ctx, func(e *entry) bool { return !now.Before(e.next) })
	}
}

// nextDue returns the earliest time any document is due.
func (s *Source) nextDue() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var t time.Time
	for _, e := range s.entries {
		t = earliest(t, e.next)
	}
	return t
}
