package samlverify

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// mdServer is an HTTPS metadata endpoint whose answer tests change.
type mdServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	status int
	hits   atomic.Int32
}

func newMDServer(tb testing.TB, body []byte) *mdServer {
	tb.Helper()
	s := &mdServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	tb.Cleanup(s.Close)
	return s
}

// set changes what the server answers.
func (s *mdServer) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// signedMD returns metadata for certs, signed by the federation key.
func signedMD(tb testing.TB, certs ...*x509.Certificate) []byte {
	return fixture.Bytes(tb, fixture.Sign(tb, idpMetadata(tb, certs...).IdPMetadata(), fixture.NextIdPKey(tb), fixture.SignOptions{}))
}

// urlSource starts a Source on srv with a cache file and pinned signature.
func urlSource(tb testing.TB, srv *mdServer, cache string, errs *[]string) (*Source, error) {
	tb.Helper()
	return NewSource(context.Background(), SourceConfig{
		Metadata: []MetadataSpec{{URL: srv.URL + "/metadata", CacheFile: cache,
			PinnedSHA256: []string{Fingerprint(fixture.NextIdPKey(tb).Cert)}}},
		Client: srv.Client(),
		Clock:  dsig.NewFakeClockAt(fixture.T0),
		OnRefreshError: func(loc string, err error) {
			*errs = append(*errs, loc+": "+err.Error())
		},
	})
}

func TestSourceKeepsLastGoodCopy(t *testing.T) {
	t.Parallel()
	srv := newMDServer(t, signedMD(t))
	cache := filepath.Join(t.TempDir(), "idp.xml")
	var errs []string
	s, err := urlSource(t, srv, cache, &errs)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, %v", fi, err)
	}
	bad := map[string]struct {
		status int
		body   []byte
	}{
		"HTTP 500":   {http.StatusInternalServerError, nil},
		"not XML":    {http.StatusOK, []byte("<html>maintenance")},
		"unsigned":   {http.StatusOK, fixture.Bytes(t, idpMetadata(t).IdPMetadata())},
		"DOCTYPE":    {http.StatusOK, []byte(`<?xml version="1.0"?><!DOCTYPE x><x/>`)},
		"wrong key":  {http.StatusOK, fixture.Bytes(t, fixture.Sign(t, idpMetadata(t).IdPMetadata(), fixture.OtherKey(t), fixture.SignOptions{}))},
		"empty body": {http.StatusOK, nil},
	}
	for name, b := range bad {
		srv.set(b.status, b.body)
		if err := s.Refresh(context.Background()); err == nil {
			t.Errorf("%s: Refresh succeeded", name)
		}
		idp, ok := s.LookupIdP(fixture.IdPEntityID)
		if !ok || !idp.SigningCerts[0].Equal(fixture.IdPKey(t).Cert) {
			t.Fatalf("%s: last good keys dropped", name)
		}
	}
	if len(errs) != len(bad) {
		t.Errorf("OnRefreshError called %d times, want %d", len(errs), len(bad))
	}
	if cached, err := os.ReadFile(cache); err != nil || len(cached) == 0 {
		t.Error("failed refreshes lost the cache file")
	}

	// Key rollover: the IdP publishes a second key; no restart needed.
	srv.set(http.StatusOK, signedMD(t, fixture.IdPKey(t).Cert, fixture.OtherKey(t).Cert))
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if idp, _ := s.LookupIdP(fixture.IdPEntityID); len(idp.SigningCerts) != 2 {
		t.Fatalf("after rollover: %d certs", len(idp.SigningCerts))
	}

	// The IdP is unreachable at the next start: the cache file serves.
	srv.set(http.StatusServiceUnavailable, nil)
	s2, err := urlSource(t, srv, cache, &errs)
	if err != nil {
		t.Fatalf("start from cache: %v", err)
	}
	if idp, _ := s2.LookupIdP(fixture.IdPEntityID); len(idp.SigningCerts) != 2 {
		t.Fatal("cache file does not hold the last good copy")
	}
	if _, err := urlSource(t, srv, filepath.Join(t.TempDir(), "none.xml"), &errs); err == nil {
		t.Fatal("start with neither network nor cache succeeded")
	}
}

func TestSourceFilesDefaultAndExpiry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	soon := fixture.WithCert(t, fixture.OtherKey(t).Key, "soon", fixture.T0.Add(-time.Hour), fixture.T0.Add(10*24*time.Hour))
	write := func(name string, p fixture.MetadataParams) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, fixture.Bytes(t, p.IdPMetadata()), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.xml", idpMetadata(t))
	b := write("b.xml", fixture.MetadataParams{EntityID: "https://idp-b.example.test", SigningCerts: []*x509.Certificate{soon.Cert}})
	var expiring []string
	cfg := SourceConfig{
		Metadata: []MetadataSpec{{File: a}, {File: b}},
		Default:  "https://idp-b.example.test",
		Clock:    dsig.NewFakeClockAt(fixture.T0),
		OnCertExpiring: func(entityID string, _ *x509.Certificate) {
			expiring = append(expiring, entityID)
		},
	}
	s, err := NewSource(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Default().EntityID != "https://idp-b.example.test" || len(s.All()) != 2 {
		t.Errorf("default %q, %d IdPs", s.Default().EntityID, len(s.All()))
	}
	if len(expiring) != 1 || expiring[0] != "https://idp-b.example.test" {
		t.Errorf("expiring = %q", expiring)
	}
	cfg.Metadata = []MetadataSpec{{File: a}, {File: a}}
	cfg.Default = ""
	if _, err := NewSource(context.Background(), cfg); err == nil {
		t.Error("an entity listed twice was accepted")
	}
	for name, spec := range map[string]MetadataSpec{
		"http URL": {URL: "http://idp.test/md"},
		"both":     {URL: "https://idp.test/md", File: a},
		"neither":  {},
		"bad pin":  {File: a, PinnedSHA256: []string{"abc"}},
	} {
		if _, err := NewSource(context.Background(), SourceConfig{Metadata: []MetadataSpec{spec}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNextRefresh(t *testing.T) {
	t.Parallel()
	s := &Source{cfg: SourceConfig{RefreshInterval: time.Hour}}
	now := fixture.T0
	tests := map[string]struct {
		md   Metadata
		want time.Duration
	}{
		"interval":            {Metadata{}, time.Hour},
		"shorter cache":       {Metadata{CacheDuration: 10 * time.Minute}, 10 * time.Minute},
		"longer cache":        {Metadata{CacheDuration: 6 * time.Hour}, time.Hour},
		"validUntil sooner":   {Metadata{ValidUntil: now.Add(20 * time.Minute)}, 20 * time.Minute},
		"validUntil imminent": {Metadata{ValidUntil: now.Add(time.Second)}, minRefresh},
	}
	for name, tc := range tests {
		if got := s.nextRefresh(&tc.md, now).Sub(now); got != tc.want {
			t.Errorf("%s: next in %v, want %v", name, got, tc.want)
		}
	}
}

func TestSourceRunRefreshesOnTimer(t *testing.T) {
	t.Parallel()
	fc := clockwork.NewFakeClockAt(fixture.T0)
	srv := newMDServer(t, signedMD(t))
	s, err := NewSource(context.Background(), SourceConfig{
		Metadata:        []MetadataSpec{{URL: srv.URL}},
		Client:          srv.Client(),
		Clock:           dsig.NewFakeClock(fc),
		RefreshInterval: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for i := int32(2); i <= 3; i++ {
		if err := fc.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		fc.Advance(10 * time.Minute)
		deadline := time.Now().Add(5 * time.Second)
		for srv.hits.Load() < i && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := srv.hits.Load(); got != i {
			t.Fatalf("fetches = %d, want %d", got, i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
