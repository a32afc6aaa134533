package validate

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths from this module to the repository's files.
const (
	repoRoot    = "../.."
	chartDir    = "../helm/tfgate"
	examplesDir = "../helm/tfgate/examples"
	manifests   = "../kubernetes/tfgate.yaml"
	istioDir    = "../istio"
	egDir       = "../envoy-gateway"
	walkthrough = "../../docs/kubernetes.md"
)

// valuesFiles are the example values files, each rendered on its own over
// the chart's defaults. "" is the defaults alone.
func valuesFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "values-*.yaml"))
	if err != nil || len(files) < 6 {
		tb.Fatalf("example values files: %v %v", files, err)
	}
	return append([]string{""}, files...)
}

func render(tb testing.TB, values string) []Object {
	tb.Helper()
	var files []string
	if values != "" {
		files = append(files, values)
	}
	objs, _, err := Render(chartDir, files...)
	if err != nil {
		tb.Fatalf("rendering with %q: %v", values, err)
	}
	return objs
}

func find(objs []Object, kind, name string) (Object, bool) {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

func mustDecode[T any](tb testing.TB, o Object) *T {
	tb.Helper()
	v, err := Decode(o)
	if err != nil {
		tb.Fatal(err)
	}
	t, ok := v.(*T)
	if !ok {
		tb.Fatalf("%s decodes to %T", o.ID(), v)
	}
	return t
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// extauthz builds tfgate's own binary from the main module, once.
func extauthz(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tfgate-validate-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "extauthz")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/extauthz")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		tb.Fatalf("building extauthz: %v\n%s", buildErr, binPath)
	}
	return binPath
}

// podFiles stands in for what a pod mounts: a directory holding, under
// the paths the rendered config names, files of the right kind (real keys
// and certificates, as config check reads them).
type podFiles struct {
	root string
}

// Mount prefixes the config uses, and what is placed under each.
var mountPrefixes = []string{"/etc/tfgate/", "/var/run/secrets/kubernetes.io/serviceaccount/"}

func newPodFiles(tb testing.TB) *podFiles {
	tb.Helper()
	root := tb.TempDir()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tfgate-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	files := map[string][]byte{
		"etc/tfgate/redis/password":                           []byte("test-password\n"),
		"etc/tfgate/redis-tls/ca.crt":                         certPEM,
		"etc/tfgate/redis-tls/tls.crt":                        certPEM,
		"etc/tfgate/redis-tls/tls.key":                        keyPEM,
		"etc/tfgate/saml/tls.crt":                             certPEM,
		"etc/tfgate/saml/tls.key":                             keyPEM,
		"etc/tfgate/jwks/jwks.json":                           []byte(`{"keys":[]}`),
		"var/run/secrets/kubernetes.io/serviceaccount/token":  []byte("token"),
		"var/run/secrets/kubernetes.io/serviceaccount/ca.crt": certPEM,
	}
	for p, b := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/tfgate/policy"), 0o755); err != nil {
		tb.Fatal(err)
	}
	return &podFiles{root: root}
}

// rebase points the config's pod paths into the stand-in directory.
func (p *podFiles) rebase(config string) string {
	for _, prefix := range mountPrefixes {
		config = strings.ReplaceAll(config, prefix, filepath.Join(p.root, prefix)+"/")
	}
	return config
}
