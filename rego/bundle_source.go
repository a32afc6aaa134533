package rego

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of a policy bundle stored as an OCI artifact: OPA's (`opa`
// pushes bundles as a tar+gzip layer) and the CNCF policy one.
const (
	MediaTypeBundleLayer    = types.OCILayer
	MediaTypeOPABundleLayer = "application/vnd.cncf.openpolicyagent.layer.v1.tar+gzip"
)

// BundleConfig says where a policy bundle comes from.
type BundleConfig struct {
	// URL is the bundle: "http://…" or "https://…" (polled with
	// If-None-Match, so an unchanged bundle costs a 304), "oci://REGISTRY/REPO:TAG"
	// or "oci://REGISTRY/REPO@sha256:…" (polled by manifest digest; plain
	// HTTP only for loopback registries), or a local .tar.gz file.
	URL string
	// PollInterval is how often the bundle is checked for a new revision.
	// default: DefaultBundlePollInterval (30s)
	PollInterval time.Duration
	// Verification, when it has keys, refuses bundles that are not signed
	// by one of them. default: none (unsigned bundles accepted)
	Verification Verification
	// Client makes the HTTP and registry requests. default: a client with a
	// 60s timeout.
	Client *http.Client
	// Header is sent with HTTP bundle requests (e.g. Authorization).
	Header http.Header
}

// DefaultBundlePollInterval is the default BundleConfig.PollInterval.
const DefaultBundlePollInterval = 30 * time.Second

// BundleStatus is what a BundleSource reports for /statusz and metrics.
type BundleStatus struct {
	URL      string
	Revision string // in force
	// ETag is the HTTP ETag, OCI manifest digest or file hash in force.
	ETag        string
	LastSuccess time.Time // last check that found the bundle current or installed it
	LastError   string    // of the last failed check; "" after a success
	LastErrorAt time.Time
	Failures    uint64 // checks that failed to download, verify or compile
	Installs    uint64 // revisions installed, the first included
}

// BundleSource keeps an Evaluator's policy in step with a bundle. A bundle
// that fails to download, verify or compile leaves the last good one in
// force; the failure is logged once per distinct error and counted.
type BundleSource struct {
	cfg   BundleConfig
	e     *Evaluator
	fetch fetcher
	now   func() time.Time

	checking sync.Mutex // one check at a time, so an older download never installs over a newer one
	mu       sync.Mutex
	status   BundleStatus
}

// fetcher returns the bundle if it changed since etag, or nil and the same
// etag when it did not.
type fetcher func(ctx context.Context, etag string) (body []byte, newETag string, err error)

// NewBundle downloads, verifies and compiles the bundle and returns an
// Evaluator serving it and the source that keeps it current (call Run).
// The first download must succeed: with no policy there is nothing to
// serve.
func NewBundle(ctx context.Context, cfg Config, bcfg BundleConfig) (*Evaluator, *BundleSource, error) {
	if bcfg.PollInterval == 0 {
		bcfg.PollInterval = DefaultBundlePollInterval
	}
	if bcfg.PollInterval < 0 {
		return nil, nil, fmt.Errorf("%w: negative bundle poll interval", ErrConfig)
	}
	if bcfg.Client == nil {
		bcfg.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if _, err := bcfg.Verification.opaConfig(); err != nil {
		return nil, nil, err
	}
	f, err := newFetcher(bcfg)
	if err != nil {
		return nil, nil, err
	}
	s := &BundleSource{cfg: bcfg, fetch: f, now: time.Now}
	s.status.URL = bcfg.URL
	body, etag, err := f(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	files, err := readBundle(bytes.NewReader(body), bcfg.URL, bcfg.Verification)
	if err != nil {
		return nil, nil, err
	}
	e, err := newFromFiles(ctx, cfg, bcfg.URL, files)
	if err != nil {
		return nil, nil, err
	}
	s.e = e
	s.status.Revision, s.status.ETag, s.status.LastSuccess, s.status.Installs = files.revision, etag, s.now(), 1
	return e, s, nil
}

// Status returns the source's state.
func (s *BundleSource) Status() BundleStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run polls every PollInterval until ctx is done, then returns nil.
func (s *BundleSource) Run(ctx context.Context, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("bundle", s.cfg.URL)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Check(ctx, log)
		}
	}
}

// Check polls once: it downloads the bundle if it changed, verifies and
// compiles it, and installs it. On failure the policy in force stays and
// the error is returned (and logged when it differs from the last one).
func (s *BundleSource) Check(ctx context.Context, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	s.checking.Lock()
	defer s.checking.Unlock()
	st := s.Status()
	body, etag, err := s.fetch(ctx, st.ETag)
	if err == nil && body != nil {
		var files *policyFiles
		if files, err = readBundle(bytes.NewReader(body), s.cfg.URL, s.cfg.Verification); err == nil {
			err = s.install(files)
			if err == nil {
				log.Info("policy bundle installed", "revision", files.revision, "previous_revision", st.Revision)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.status.Failures++
		if err.Error() != s.status.LastError {
			log.Error("policy bundle update failed; keeping the last good policy",
				"revision", s.status.Revision, "err", err)
		}
		s.status.LastError, s.status.LastErrorAt = err.Error(), s.now()
		return err
	}
	s.status.LastError, s.status.LastSuccess = "", s.now()
	if body != nil {
		s.status.ETag, s.status.Revision = etag, s.e.Revision()
		s.status.Installs++
	}
	return nil
}

func (s *BundleSource) install(files *policyFiles) error {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	// A background context: shutting down must not look like a broken
	// bundle. The outcome shows in the Evaluator's Status (/statusz,
	// tfgate_policy_last_reload_ok) as a directory reload's does.
	err := s.e.install(context.Background(), files)
	s.e.state.loaded(s.e.now(), false, files.revision, err)
	return err
}

func newFetcher(cfg BundleConfig) (fetcher, error) {
	u := cfg.URL
	switch {
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		return httpFetcher(cfg), nil
	case strings.HasPrefix(u, "oci://"):
		ref, err := name.ParseReference(strings.TrimPrefix(u, "oci://"))
		if err != nil {
			return nil, fmt.Errorf("%w: bundle %s: %w", ErrConfig, u, err)
		}
		return ociFetcher(cfg, ref), nil
	case u == "":
		return nil, fmt.Errorf("%w: bundle URL is empty", ErrConfig)
	case strings.Contains(u, "://"):
		return nil, fmt.Errorf("%w: bundle %s: scheme must be http, https or oci (or a file path)", ErrConfig, u)
	}
	return fileFetcher(u), nil
}

func contentETag(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func fileFetcher(path string) fetcher {
	return func(_ context.Context, etag string) ([]byte, string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, etag, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		if tag := contentETag(b); tag != etag {
			return b, tag, nil
		}
		return nil, etag, nil
	}
}

func httpFetcher(cfg BundleConfig) fetcher {
	return func(ctx context.Context, etag string) ([]byte, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
		if err != nil {
			return nil, etag, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		for k, vs := range cfg.Header {
			req.Header[k] = vs
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := cfg.Client.Do(req)
		if err != nil {
			return nil, etag, fmt.Errorf("%w: downloading bundle: %w", ErrLoad, err)
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNotModified:
			return nil, etag, nil
		case http.StatusOK:
		default:
			return nil, etag, fmt.Errorf("%w: downloading bundle %s: HTTP %s", ErrLoad, cfg.URL, resp.Status)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, DefaultBundleMaxBytes+1))
		if err != nil {
			return nil, etag, fmt.Errorf("%w: downloading bundle: %w", ErrLoad, err)
		}
		if len(b) > DefaultBundleMaxBytes {
			return nil, etag, fmt.Errorf("%w: bundle larger than %d bytes", ErrLoad, DefaultBundleMaxBytes)
		}
		tag := resp.Header.Get("ETag")
		if tag == "" {
			// No ETag: compare contents, so an unchanged bundle is not
			// recompiled on every poll.
			if tag = contentETag(b); tag == etag {
				return nil, etag, nil
			}
		}
		return b, tag, nil
	}
}

func ociFetcher(cfg BundleConfig, ref name.Reference) fetcher {
	return func(ctx context.Context, etag string) ([]byte, string, error) {
		opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(cfg.Client.Transport)}
		if cfg.Client.Transport == nil {
			opts[1] = remote.WithTransport(http.DefaultTransport)
		}
		head, err := remote.Head(ref, opts...)
		if err != nil {
			return nil, etag, fmt.Errorf("%w: bundle %s: %w", ErrLoad, ref, err)
		}
		if head.Digest.String() == etag {
			return nil, etag, nil
		}
		img, err := remote.Image(ref.Context().Digest(head.Digest.String()), opts...)
		if err != nil {
			return nil, etag, fmt.Errorf("%w: bundle %s: %w", ErrLoad, ref, err)
		}
		b, err := bundleLayer(img)
		if err != nil {
			return nil, etag, fmt.Errorf("%w: bundle %s: %w", ErrLoad, ref, err)
		}
		return b, head.Digest.String(), nil
	}
}

// bundleLayer returns the compressed bytes of the image's bundle layer.
func bundleLayer(img v1.Image) ([]byte, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Layers {
		if d.MediaType != MediaTypeBundleLayer && d.MediaType != MediaTypeOPABundleLayer {
			continue
		}
		if d.Size > DefaultBundleMaxBytes {
			return nil, fmt.Errorf("bundle layer larger than %d bytes", DefaultBundleMaxBytes)
		}
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, DefaultBundleMaxBytes))
	}
	return nil, errors.New("no bundle layer (" + string(MediaTypeBundleLayer) + ") in the image")
}
