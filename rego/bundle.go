package rego

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// Verification says which keys may sign a bundle. The zero value (no keys)
// accepts unsigned bundles; with keys, a bundle without a valid
// .signatures.json signed by one of them is refused.
type Verification struct {
	// Keys are the public keys (PEM) a bundle may be signed with, by key
	// id; the id is matched against the signature's "kid".
	Keys map[string]VerificationKey
	// KeyID is the key for signatures that name none.
	// default: the only key when there is one
	KeyID string
	// Scope, when set, must equal the signature's scope claim.
	Scope string
}

// VerificationKey is one public key and its JWS algorithm (RS256, RS384,
// RS512, PS256, PS384, PS512, ES256, ES384, ES512; default RS256).
type VerificationKey struct {
	Key       string
	Algorithm string
}

// Enabled reports whether signatures are required.
func (v Verification) Enabled() bool { return len(v.Keys) > 0 }

// opaConfig converts v to OPA's verification config (nil when disabled).
func (v Verification) opaConfig() (*bundle.VerificationConfig, error) {
	if !v.Enabled() {
		return nil, nil
	}
	keys := make(map[string]*bundle.KeyConfig, len(v.Keys))
	for id, k := range v.Keys {
		alg := k.Algorithm
		if alg == "" {
			alg = "RS256"
		}
		if !strings.Contains(k.Key, "-----BEGIN") {
			return nil, fmt.Errorf("%w: verification key %q is not PEM", ErrConfig, id)
		}
		keys[id] = &bundle.KeyConfig{Key: k.Key, Algorithm: alg}
	}
	id := v.KeyID
	if id == "" && len(keys) == 1 {
		for k := range keys {
			id = k
		}
	}
	if id != "" && keys[id] == nil {
		return nil, fmt.Errorf("%w: verification key id %q has no key", ErrConfig, id)
	}
	return bundle.NewVerificationConfig(keys, id, v.Scope, nil), nil
}

// DefaultBundleMaxBytes bounds a downloaded bundle.
const DefaultBundleMaxBytes = 64 << 20

// readBundle reads and, when verification is on, verifies an OPA bundle
// (.tar.gz with .manifest, optional .signatures.json), and converts it to
// policy files. etag is a fallback revision for bundles whose manifest
// names none.
func readBundle(r io.Reader, name string, v Verification) (*policyFiles, error) {
	vc, err := v.opaConfig()
	if err != nil {
		return nil, err
	}
	rd := bundle.NewReader(io.LimitReader(r, DefaultBundleMaxBytes)).
		WithRegoVersion(ast.RegoV1).
		WithBundleName(name).
		WithSkipBundleVerification(vc == nil)
	if vc != nil {
		rd = rd.WithBundleVerificationConfig(vc)
	}
	b, err := rd.Read()
	if err != nil {
		if vc != nil && (strings.Contains(err.Error(), "signature") || strings.Contains(err.Error(), "verif") || strings.Contains(err.Error(), "digest")) {
			return nil, fmt.Errorf("%w: %s: %w", ErrVerification, name, err)
		}
		return nil, fmt.Errorf("%w: bundle %s: %w", ErrLoad, name, err)
	}
	return bundleFiles(&b, name)
}

// bundleFiles converts a bundle to the files prepare compiles: its modules
// (test modules apart) and its data as one data.json. The revision is the
// manifest's, or a hash of the contents when the manifest names none.
func bundleFiles(b *bundle.Bundle, name string) (*policyFiles, error) {
	p := &policyFiles{}
	for _, m := range b.Modules {
		f := file{name: name + ":" + strings.TrimPrefix(m.Path, "/"), base: strings.TrimPrefix(m.Path, "/"), content: m.Raw}
		if strings.HasSuffix(m.Path, "_test.rego") {
			p.tests = append(p.tests, f)
		} else {
			p.modules = append(p.modules, f)
		}
	}
	if len(p.modules) == 0 {
		return nil, fmt.Errorf("%w: bundle %s has no policy modules", ErrLoad, name)
	}
	if len(b.Data) > 0 {
		js, err := json.Marshal(b.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: bundle %s data: %w", ErrLoad, name, err)
		}
		p.data = append(p.data, file{name: name + ":data.json", base: "data.json", content: js})
	}
	p.revision = b.Manifest.Revision
	if p.revision == "" {
		p.revision = revisionOf(p.modules, p.data)
	}
	return p, nil
}

// BuildOptions configures BuildBundle.
type BuildOptions struct {
	// Revision is the manifest's revision; default: the hash the server
	// reports for the directory (Evaluator.Revision).
	Revision string
	// SigningKey, when set, is a PEM private key (RSA or EC) that signs the
	// bundle (.signatures.json), with SigningAlgorithm (default RS256) and
	// SigningKeyID as the signature's kid.
	SigningKey, SigningAlgorithm, SigningKeyID string
}

// BuildBundle writes the policy in dir (or the embedded policy when dir is
// "") as an OPA bundle to w: the modules, the data as data.json and a
// .manifest with the revision, signed when opts.SigningKey is set. Test
// files are left out. The policy is compiled first: a bundle that would not
// load is not written.
func BuildBundle(ctx context.Context, dir string, w io.Writer, opts BuildOptions) (revision string, err error) {
	files, err := newSource(dir).read()
	if err != nil {
		return "", err
	}
	if _, err := prepare(ctx, files, DefaultQuery, -1, EngineTopdown); err != nil {
		return "", err
	}
	rev := opts.Revision
	if rev == "" {
		rev = files.revision
	}
	return rev, writeBundle(w, files, rev, opts)
}

// writeBundle writes files as a bundle without compiling them first.
func writeBundle(w io.Writer, files *policyFiles, rev string, opts BuildOptions) error {
	data, err := parseData(files.data)
	if err != nil {
		return err
	}
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: rev, Roots: &[]string{""}},
		Data:     data,
	}
	b.Manifest.Init()
	for _, f := range files.modules {
		mod, err := ast.ParseModuleWithOpts(f.base, string(f.content), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCompile, err)
		}
		p := "/" + path.Base(f.base)
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: p, Path: p, Raw: f.content, Parsed: mod})
	}
	if opts.SigningKey != "" {
		alg := opts.SigningAlgorithm
		if alg == "" {
			alg = "RS256"
		}
		sc := bundle.NewSigningConfig(opts.SigningKey, alg, "")
		if err := b.GenerateSignature(sc, opts.SigningKeyID, false); err != nil {
			return fmt.Errorf("rego: signing bundle: %w", err)
		}
	}
	if err := bundle.NewWriter(w).DisableFormat(true).Write(b); err != nil {
		return fmt.Errorf("rego: writing bundle: %w", err)
	}
	return nil
}

// Load returns an Evaluator for a policy directory or a bundle file
// (*.tar.gz), for the commands that evaluate offline (policy eval,
// policy replay). "" is the embedded policy.
func Load(ctx context.Context, pathOrBundle string, v Verification, cacheEntries int) (*Evaluator, error) {
	if st, err := os.Stat(pathOrBundle); pathOrBundle == "" || (err == nil && st.IsDir()) {
		return New(ctx, Config{Dir: pathOrBundle, DecisionCacheEntries: cacheEntries})
	}
	data, err := os.ReadFile(pathOrBundle)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	files, err := readBundle(bytes.NewReader(data), pathOrBundle, v)
	if err != nil {
		return nil, err
	}
	return newFromFiles(ctx, Config{DecisionCacheEntries: cacheEntries}, pathOrBundle, files)
}

// newFromFiles returns an Evaluator for files that do not come from a
// directory (a bundle). Reload then has nothing to read and fails, keeping
// the policy; a BundleSource installs new revisions.
func newFromFiles(ctx context.Context, cfg Config, name string, files *policyFiles) (*Evaluator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Dir = ""
	e := &Evaluator{cfg: cfg, src: source{fsys: noFiles{name}, prefix: name}, now: time.Now}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.install(ctx, files); err != nil {
		return nil, err
	}
	e.state.loaded(e.now(), true, files.revision, nil)
	return e, nil
}

// noFiles is the source of a bundle-backed Evaluator: there is no
// directory to reload from.
type noFiles struct{ name string }

func (n noFiles) Open(string) (fs.File, error) {
	return nil, errors.New("policy comes from bundle " + n.name + "; it is reloaded by polling")
}
