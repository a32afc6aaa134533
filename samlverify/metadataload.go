package samlverify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// refresh reloads the entries due says are due and publishes the result.
func (s *Source) refresh(ctx context.Context, due func(*entry) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range s.entries {
		if !due(e) {
			continue
		}
		if err := s.refreshEntry(ctx, e); err != nil {
			errs = append(errs, err)
			s.report(e.spec.location(), err)
		}
	}
	return errors.Join(errs...)
}

// refreshEntry loads e anew and publishes it; on any failure e keeps its
// last good copy and is retried after RetryInterval.
func (s *Source) refreshEntry(ctx context.Context, e *entry) (err error) {
	now := s.cfg.Clock.Now()
	if s.cfg.OnRefresh != nil {
		defer func() { s.cfg.OnRefresh(e.spec.location(), now, err) }()
	}
	md, raw, err := s.fetch(ctx, e.spec)
	if err == nil {
		prev := e.md
		e.md = md
		if err = s.publish(); err != nil {
			e.md = prev
		} else {
			s.saveCache(e.spec, raw)
		}
	}
	if err != nil {
		e.next = now.Add(s.cfg.RetryInterval)
		if vu := e.md.ValidUntil; !vu.IsZero() && !now.Before(vu) {
			err = fmt.Errorf("%w (last good copy, past its validUntil, still in use)", err)
		}
		return err
	}
	e.next = s.nextRefresh(md, now)
	return nil
}

// publish builds an IdPSet from every entry's last good copy and swaps it
// in, then warns about certificates close to expiry.
func (s *Source) publish() error {
	var all []*IdP
	for _, e := range s.entries {
		all = append(all, e.md.IdPs...)
	}
	set, err := NewIdPSet(all, s.cfg.Default)
	if err != nil {
		return err
	}
	s.set.Store(set)
	s.warnExpiring(all)
	return nil
}

// warnExpiring calls OnCertExpiring for each signing certificate within
// ExpiryWarning of its NotAfter.
func (s *Source) warnExpiring(idps []*IdP) {
	if s.cfg.OnCertExpiring == nil {
		return
	}
	limit := s.cfg.Clock.Now().Add(s.cfg.ExpiryWarning)
	for _, idp := range idps {
		for _, c := range idp.SigningCerts {
			if c.NotAfter.Before(limit) {
				s.cfg.OnCertExpiring(idp.EntityID, c)
			}
		}
	}
}

// report passes a refresh failure to OnRefreshError.
func (s *Source) report(location string, err error) {
	if s.cfg.OnRefreshError != nil {
		s.cfg.OnRefreshError(location, err)
	}
}

// nextRefresh returns when a document loaded at now is next due:
// RefreshInterval later, or sooner for a shorter cacheDuration, and never
// after its validUntil; but not sooner than minRefresh.
func (s *Source) nextRefresh(md *Metadata, now time.Time) time.Time {
	d := s.cfg.RefreshInterval
	if md.CacheDuration > 0 {
		d = min(d, md.CacheDuration)
	}
	if !md.ValidUntil.IsZero() {
		d = min(d, md.ValidUntil.Sub(now))
	}
	return now.Add(max(d, minRefresh))
}

// fetch reads and parses spec's document from its File or URL, and returns
// the raw bytes too, for the cache file.
func (s *Source) fetch(ctx context.Context, spec MetadataSpec) (*Metadata, []byte, error) {
	var raw []byte
	var err error
	if spec.File != "" {
		raw, err = s.readFile(spec.File)
	} else {
		raw, err = s.download(ctx, spec.URL)
	}
	if err != nil {
		return nil, nil, err
	}
	md, err := ParseMetadata(raw, s.options(spec))
	if err != nil {
		return nil, nil, err
	}
	return md, raw, nil
}

// saveCache writes a good copy of URL metadata to spec's CacheFile. A
// failure to write is reported, not fatal: the copy in memory is good.
func (s *Source) saveCache(spec MetadataSpec, raw []byte) {
	if spec.CacheFile == "" || spec.URL == "" || raw == nil {
		return
	}
	if err := writeAtomic(spec.CacheFile, raw); err != nil {
		s.report(spec.CacheFile, err)
	}
}

// loadCache parses spec's CacheFile with the same checks as a download.
func (s *Source) loadCache(spec MetadataSpec) (*Metadata, error) {
	raw, err := s.readFile(spec.CacheFile)
	if err != nil {
		return nil, err
	}
	return ParseMetadata(raw, s.options(spec))
}

// options returns the ParseMetadata options for spec.
func (s *Source) options(spec MetadataSpec) MetadataOptions {
	return MetadataOptions{PinnedCerts: spec.PinnedCerts, PinnedSHA256: spec.PinnedSHA256,
		AllowSHA1: s.cfg.AllowSHA1, MaxBytes: s.cfg.MaxBytes, Clock: s.cfg.Clock}
}

// maxBytes returns the effective document cap.
func (s *Source) maxBytes() int64 {
	if s.cfg.MaxBytes > 0 {
		return int64(s.cfg.MaxBytes)
	}
	return DefaultMaxMetadataBytes
}

// readFile reads at most maxBytes+1 bytes of path, so that ParseMetadata
// sees an oversized file as oversized without it all being read.
func (s *Source) readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, s.maxBytes()+1))
}

// download GETs url with the configured client.
func (s *Source) download(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("samlverify: metadata fetch: HTTP status %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, s.maxBytes()+1))
}

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename, so a reader never sees a half-written cache.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
