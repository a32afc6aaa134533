package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"
)

// TLSConfig puts TLS, and optionally client-certificate verification
// (mTLS), on both of tfgate's listeners. The files are read again when
// they change, so a rotated certificate is used without a restart;
// connections already open keep theirs.
type TLSConfig struct {
	// CertFile and KeyFile are the server's PEM certificate chain and key;
	// setting them turns TLS on for the gRPC and the HTTP listener.
	// Default: "" (plaintext).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is a PEM bundle of the CAs that sign client
	// certificates; setting it makes a client certificate required on both
	// listeners. Default: "" (no client certificates).
	ClientCAFile string `yaml:"client_ca_file"`
	// AllowedSANs, when not empty, are the client identities accepted: a
	// URI SAN (a SPIFFE ID such as spiffe://cluster.local/ns/mesh/sa/envoy)
	// or a DNS name, compared exactly. Needs ClientCAFile. Default: [] (any
	// certificate the CAs signed).
	AllowedSANs []string `yaml:"allowed_sans"`
	// ReloadInterval is how often the files are checked for changes.
	// Default: 10s.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

func (c TLSConfig) enabled() bool { return c.CertFile != "" || c.KeyFile != "" }

func (c TLSConfig) validate(bad func(string, string, ...any)) {
	if c.CertFile == "" && (c.KeyFile != "" || c.ClientCAFile != "" || len(c.AllowedSANs) > 0) {
		bad("listen.tls.cert_file", "is required with key_file, client_ca_file or allowed_sans")
		return
	}
	if !c.enabled() {
		return
	}
	if c.KeyFile == "" {
		bad("listen.tls.key_file", "is required with cert_file")
	}
	if len(c.AllowedSANs) > 0 && c.ClientCAFile == "" {
		bad("listen.tls.allowed_sans", "needs client_ca_file: without client certificates there is no identity to allow")
	}
	if c.ReloadInterval <= 0 {
		bad("listen.tls.reload_interval", "must be positive")
	}
	if _, err := loadTLSFiles(c); err != nil {
		bad("listen.tls", "%v", err)
	}
}

// tlsFiles is what the files held at one load.
type tlsFiles struct {
	cert  *tls.Certificate
	pool  *x509.CertPool // nil: no client certificates
	stamp []byte         // the files' contents, to notice a change
}

func loadTLSFiles(c TLSConfig) (*tlsFiles, error) {
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		return nil, fmt.Errorf("reading cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("reading key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("cert_file and key_file: %w", err)
	}
	f := &tlsFiles{cert: &cert, stamp: slices.Concat(certPEM, keyPEM)}
	if c.ClientCAFile != "" {
		caPEM, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading client_ca_file: %w", err)
		}
		f.pool = x509.NewCertPool()
		if !f.pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("client_ca_file holds no PEM certificate")
		}
		f.stamp = append(f.stamp, caPEM...)
	}
	return f, nil
}

// tlsReloader serves the current files' TLS configuration and reloads
// them when they change. A change that does not load (a half-written file,
// a key that does not match) keeps the previous files and is logged.
type tlsReloader struct {
	cfg     TLSConfig
	current atomic.Pointer[tlsFiles]
	log     *slog.Logger
}

func newTLSReloader(cfg TLSConfig, log *slog.Logger) (*tlsReloader, error) {
	f, err := loadTLSFiles(cfg)
	if err != nil {
		return nil, fmt.Errorf("listen.tls: %w", err)
	}
	r := &tlsReloader{cfg: cfg, log: log}
	r.current.Store(f)
	return r, nil
}

// Run checks the files every ReloadInterval until ctx is done.
func (r *tlsReloader) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.reload()
		}
	}
}

func (r *tlsReloader) reload() {
	f, err := loadTLSFiles(r.cfg)
	if err != nil {
		r.log.Warn("listen.tls: keeping the current certificate", "error", err)
		return
	}
	if bytes.Equal(f.stamp, r.current.Load().stamp) {
		return
	}
	r.current.Store(f)
	r.log.Info("listen.tls: reloaded certificate files", "not_after", f.cert.Leaf.NotAfter)
}

// serverConfig is the tls.Config of a listener speaking nextProtos. Each
// handshake takes the files loaded last (GetConfigForClient).
func (r *tlsReloader) serverConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			f := r.current.Load()
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   nextProtos,
				Certificates: []tls.Certificate{*f.cert},
			}
			if f.pool != nil {
				c.ClientAuth = tls.RequireAndVerifyClientCert
				c.ClientCAs = f.pool
				c.VerifyPeerCertificate = r.checkSAN
			}
			return c, nil
		},
	}
}

// checkSAN accepts a verified client certificate whose URI or DNS SAN is
// in AllowedSANs (any, when the list is empty).
func (r *tlsReloader) checkSAN(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(r.cfg.AllowedSANs) == 0 {
		return nil
	}
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("tfgate: no verified client certificate")
	}
	leaf := chains[0][0]
	for _, u := range leaf.URIs {
		if slices.Contains(r.cfg.AllowedSANs, u.String()) {
			return nil
		}
	}
	for _, d := range leaf.DNSNames {
		if slices.Contains(r.cfg.AllowedSANs, d) {
			return nil
		}
	}
	return errors.New("tfgate: client certificate identity not in listen.tls.allowed_sans")
}
