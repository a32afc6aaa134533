package kubejwt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocument caps a discovery document or JWKS.
const maxDocument = 1 << 20

// keySet is the cached JWKS and how to fetch it again.
type keySet struct {
	cfg Config

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time // last attempt, successful or not
	loaded  time.Time // last success
}

// key returns the key named kid, fetching the set when it is stale, or
// when kid is unknown and the last fetch is older than MinRefresh.
func (s *keySet) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if s.keys == nil || now.Sub(s.loaded) >= s.cfg.Refresh {
		s.refresh(ctx, now)
	}
	if k, ok := s.find(kid); ok {
		return k, nil
	}
	if s.keys != nil && now.Sub(s.fetched) >= s.cfg.MinRefresh {
		// An unknown kid may be a key the issuer has just rotated in.
		s.refresh(ctx, now)
		if k, ok := s.find(kid); ok {
			return k, nil
		}
	}
	if s.keys == nil {
		return nil, ErrUnavailable
	}
	return nil, ErrUnknownKey
}

// refresh fetches the set; on failure the cached keys stay in use and the
// failure goes to the log.
func (s *keySet) refresh(ctx context.Context, now time.Time) {
	if s.keys != nil && now.Sub(s.fetched) < s.cfg.MinRefresh {
		return
	}
	s.fetched = now
	ks, err := s.fetch(ctx)
	if err != nil {
		s.cfg.Logger.Warn("kubejwt: fetching the issuer's keys", "err", err, "cached", s.keys != nil)
		return
	}
	s.keys, s.loaded = ks, now
}

func (s *keySet) find(kid string) (*jose.JSONWebKey, bool) {
	if s.keys == nil || kid == "" {
		return nil, false
	}
	for _, k := range s.keys.Key(kid) {
		if k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			return &k, true
		}
	}
	return nil, false
}

// fetch reads the JWKS from the file, the JWKS URL or the URL the
// discovery document names.
func (s *keySet) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	var (
		raw []byte
		err error
	)
	switch {
	case s.cfg.JWKSFile != "":
		raw, err = os.ReadFile(s.cfg.JWKSFile)
	case s.cfg.JWKSURL != "":
		raw, err = s.get(ctx, s.cfg.JWKSURL)
	default:
		var uri string
		if uri, err = s.discover(ctx); err == nil {
			raw, err = s.get(ctx, uri)
		}
	}
	if err != nil {
		return nil, err
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &ks); err != nil {
		return nil, fmt.Errorf("decoding the JWKS: %w", err)
	}
	if len(ks.Keys) == 0 {
		return nil, fmt.Errorf("the JWKS has no keys")
	}
	return &ks, nil
}

// discover reads jwks_uri from the OIDC discovery document, whose issuer
// must be the configured one (OpenID Connect Discovery §4.3).
func (s *keySet) discover(ctx context.Context) (string, error) {
	raw, err := s.get(ctx, s.cfg.DiscoveryURL)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("decoding the discovery document: %w", err)
	}
	if doc.Issuer != s.cfg.Issuer {
		return "", fmt.Errorf("the discovery document's issuer %q is not the configured issuer", doc.Issuer)
	}
	if !strings.HasPrefix(doc.JWKSURI, "https://") && !strings.HasPrefix(doc.JWKSURI, "http://") {
		return "", fmt.Errorf("the discovery document has no usable jwks_uri")
	}
	return doc.JWKSURI, nil
}

func (s *keySet) get(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if s.cfg.BearerTokenFile != "" {
		// The API server's /openid/v1/jwks needs an authenticated caller
		// unless anonymous discovery is allowed; the pod's own token is.
		tok, err := os.ReadFile(s.cfg.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading bearer_token_file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxDocument))
}
