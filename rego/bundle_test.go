package rego

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// signingKey is an ES256 key pair in PEM, as `openssl` writes them.
type signingKey struct{ private, public string }

func newSigningKey(tb testing.TB) signingKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	priv, _ := x509.MarshalPKCS8PrivateKey(k)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return signingKey{
		private: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
		public:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	}
}

// grantDir is the default policy with data granting group "ml" predict
// on model.
func grantDir(tb testing.TB, model string) string {
	tb.Helper()
	rego, err := embedded.ReadFile("policies/tfgate.rego")
	if err != nil {
		tb.Fatal(err)
	}
	return writeDir(tb, map[string]string{
		"tfgate.rego": string(rego),
		"data.yaml":   "tfgate:\n  grants:\n    ml:\n      - models: [" + model + "]\n        versions: [\"*\"]\n        apis: [predict]\n",
	})
}

// buildBundle builds dir as a bundle with revision rev, signed with key
// when key.private is set.
func buildBundle(tb testing.TB, dir, rev string, key signingKey) []byte {
	tb.Helper()
	var buf bytes.Buffer
	opts := BuildOptions{Revision: rev}
	if key.private != "" {
		opts.SigningKey, opts.SigningAlgorithm, opts.SigningKeyID = key.private, "ES256", "team"
	}
	if _, err := BuildBundle(context.Background(), dir, &buf, opts); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// tamper rewrites one file inside a bundle, keeping its signature.
func tamper(tb testing.TB, b []byte, file string, edit func([]byte) []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		if strings.TrimPrefix(h.Name, "/") == file {
			content, found = edit(content), true
			h.Size = int64(len(content))
		}
		_ = tw.WriteHeader(h)
		_, _ = tw.Write(content)
	}
	if !found {
		tb.Fatalf("no %s in the bundle", file)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

// bundleServer serves the bundle it holds, with an ETag.
type bundleServer struct {
	mu         sync.Mutex
	body       []byte
	full, n304 atomic.Int64
}

func (s *bundleServer) set(b []byte) { s.mu.Lock(); s.body = b; s.mu.Unlock() }

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b := s.body
	s.mu.Unlock()
	h := sha256.Sum256(b)
	etag := `"` + hex.EncodeToString(h[:8]) + `"`
	if r.Header.Get("If-None-Match") == etag {
		s.n304.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.full.Add(1)
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/gzip")
	_, _ = w.Write(b)
}

// publisher puts a bundle where replicas poll for it.
type publisher struct {
	url     string
	publish func(tb testing.TB, b []byte)
}

func httpPublisher(tb testing.TB) (publisher, *bundleServer) {
	srv := &bundleServer{}
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	return publisher{url: ts.URL + "/bundles/tfgate.tar.gz", publish: func(_ testing.TB, b []byte) { srv.set(b) }}, srv
}

// ociPublisher runs go-containerregistry's registry in the test process and
// pushes bundles as OPA does: one tar+gzip layer in an OCI image manifest.
func ociPublisher(tb testing.TB) publisher {
	ts := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(ts.Close)
	ref := strings.TrimPrefix(ts.URL, "http://") + "/policies/tfgate:live"
	return publisher{url: "oci://" + ref, publish: func(tb testing.TB, b []byte) {
		tb.Helper()
		r, err := name.ParseReference(ref)
		if err != nil {
			tb.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer(b, types.OCILayer))
		if err != nil {
			tb.Fatal(err)
		}
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		if err := remote.Write(r, img); err != nil {
			tb.Fatal(err)
		}
	}}
}

func allows(tb testing.TB, e *Evaluator, model string) bool {
	tb.Helper()
	v, err := e.Evaluate(context.Background(), in([]string{"ml"}, "predict", model))
	if err != nil {
		tb.Fatal(err)
	}
	return v.Allow
}

// TestBundleReplicasConverge is the done-when: a signed bundle
// served over HTTP and over OCI, a grant flipped in a new revision, every
// replica converging to it, and tampered, wrong-key, unsigned and broken
// bundles refused while the last good one keeps serving.
func TestBundleReplicasConverge(t *testing.T) {
	key, otherKey := newSigningKey(t), newSigningKey(t)
	verify := Verification{Keys: map[string]VerificationKey{"team": {Key: key.public, Algorithm: "ES256"}}}
	resnet, bert := grantDir(t, "resnet"), grantDir(t, "bert")
	httpPub, httpSrv := httpPublisher(t)

	for _, pub := range []struct {
		name string
		publisher
	}{{"http", httpPub}, {"oci", ociPublisher(t)}} {
		t.Run(pub.name, func(t *testing.T) {
			pub.publish(t, buildBundle(t, resnet, "r1", key))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var replicas []*Evaluator
			var sources []*BundleSource
			for range 2 {
				e, s, err := NewBundle(ctx, Config{}, BundleConfig{URL: pub.url, PollInterval: 10 * time.Millisecond, Verification: verify})
				if err != nil {
					t.Fatal(err)
				}
				if e.Revision() != "r1" || !allows(t, e, "resnet") || allows(t, e, "bert") {
					t.Fatalf("replica starts on %s, resnet %v bert %v; want r1 granting resnet only", e.Revision(), allows(t, e, "resnet"), allows(t, e, "bert"))
				}
				replicas, sources = append(replicas, e), append(sources, s)
				go s.Run(ctx, nil)
			}
			converged := func(rev string) func() bool {
				return func() bool {
					for _, s := range sources {
						if s.Status().Revision != rev {
							return false
						}
					}
					return true
				}
			}

			pub.publish(t, buildBundle(t, bert, "r2", key))
			eventually(t, "every replica on r2", converged("r2"))
			for i, e := range replicas {
				if e.Revision() != "r2" || allows(t, e, "resnet") || !allows(t, e, "bert") {
					t.Errorf("replica %d on %s after the flip: resnet %v bert %v", i, e.Revision(), allows(t, e, "resnet"), allows(t, e, "bert"))
				}
			}

			refused := []struct {
				what   string
				bundle []byte
				want   error
			}{
				{"tampered data", tamper(t, buildBundle(t, resnet, "r3", key), "data.json", func(b []byte) []byte {
					return bytes.Replace(b, []byte("resnet"), []byte("*"), 1)
				}), ErrVerification},
				{"tampered manifest", tamper(t, buildBundle(t, bert, "r3", key), ".manifest", func(b []byte) []byte {
					return bytes.Replace(b, []byte("r3"), []byte("r9"), 1)
				}), ErrVerification},
				{"wrong key", buildBundle(t, resnet, "r4", otherKey), ErrVerification},
				{"unsigned", buildBundle(t, resnet, "r5", signingKey{}), ErrVerification},
				{"signed but does not compile", brokenBundle(t, key), ErrCompile},
			}
			for _, r := range refused {
				pub.publish(t, r.bundle)
				for i, s := range sources {
					err := s.Check(ctx, nil)
					if !errors.Is(err, r.want) {
						t.Errorf("%s: replica %d: Check = %v, want %v", r.what, i, err, r.want)
					}
					if st := s.Status(); st.Revision != "r2" || st.LastError == "" || !allows(t, replicas[i], "bert") {
						t.Errorf("%s: replica %d status %+v; want r2 still serving with the error reported", r.what, i, st)
					}
				}
			}

			pub.publish(t, buildBundle(t, resnet, "r6", key))
			eventually(t, "every replica on r6", converged("r6"))
			for i, e := range replicas {
				if !allows(t, e, "resnet") || sources[i].Status().LastError != "" {
					t.Errorf("replica %d did not recover on r6: %+v", i, sources[i].Status())
				}
			}
		})
	}
	if httpSrv.n304.Load() == 0 {
		t.Error("the HTTP replicas never got a 304: polling does not send If-None-Match")
	}

	t.Run("refused at start", func(t *testing.T) {
		pub, _ := httpPublisher(t)
		pub.publish(t, buildBundle(t, resnet, "u1", signingKey{}))
		if _, _, err := NewBundle(context.Background(), Config{}, BundleConfig{URL: pub.url, Verification: verify}); !errors.Is(err, ErrVerification) {
			t.Errorf("unsigned bundle at start: %v, want ErrVerification", err)
		}
		// Verification off: unsigned bundles are accepted.
		if e, _, err := NewBundle(context.Background(), Config{}, BundleConfig{URL: pub.url}); err != nil || e.Revision() != "u1" {
			t.Errorf("unsigned bundle without verification: %v", err)
		}
	})
}

// brokenBundle is a signed bundle whose policy does not compile (an unsafe variable), written without BuildBundle's compile check.
func brokenBundle(tb testing.TB, key signingKey) []byte {
	tb.Helper()
	dir := grantDir(tb, "resnet")
	if err := os.WriteFile(filepath.Join(dir, "extra.rego"), []byte("package tfgate.authz\n\nbroken := unknown_var\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	files, err := newSource(dir).read()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	opts := BuildOptions{SigningKey: key.private, SigningAlgorithm: "ES256", SigningKeyID: "team"}
	if err := writeBundle(&buf, files, "bad", opts); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestBundleFileAndLoad(t *testing.T) {
	dir := grantDir(t, "resnet")
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(path, buildBundle(t, dir, "", signingKey{}), 0o644); err != nil {
		t.Fatal(err)
	}
	fromDir := mustNew(t, Config{Dir: dir})
	e, err := Load(context.Background(), path, Verification{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Without --revision the bundle carries the revision the directory has.
	if e.Revision() != fromDir.Revision() || !allows(t, e, "resnet") {
		t.Errorf("bundle revision %s, directory %s", e.Revision(), fromDir.Revision())
	}
	if err := e.Reload(); err == nil || e.Revision() != fromDir.Revision() {
		t.Errorf("Reload of a bundle-backed evaluator: %v; want an error and the policy kept", err)
	}
	_, s, err := NewBundle(context.Background(), Config{}, BundleConfig{URL: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background(), nil); err != nil || s.Status().Installs != 1 {
		t.Errorf("unchanged file: %v, %+v", err, s.Status())
	}
}
