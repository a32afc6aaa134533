package rego

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	"sigs.k8s.io/yaml"
)

// embedded holds the default policy, its data and its tests.
//
//go:embed policies
var embedded embed.FS

// dataFiles are the names of the files loaded as data; anything else that is
// not Rego is ignored, so a README or a fixture next to the policy is inert.
var dataFiles = []string{"data.json", "data.yaml", "data.yml"}

// file is one policy file as read from disk or from the embedded policies.
type file struct {
	name    string // shown in errors and test output: the path, or "policies/x.rego"
	base    string // the file name inside the directory
	content []byte
}

// policyFiles is a snapshot of a policy directory.
type policyFiles struct {
	modules  []file // *.rego except *_test.rego
	tests    []file // *_test.rego
	data     []file // data.json, data.yaml, data.yml
	revision string // see revisionOf
}

// source is where policy files come from: a directory or the embedded ones.
type source struct {
	fsys   fs.FS
	prefix string // joined to a base name to make file.name
}

// newSource returns the source for dir ("" means the embedded policies).
func newSource(dir string) source {
	if dir == "" {
		sub, err := fs.Sub(embedded, "policies")
		if err != nil {
			panic(err) // the directory is embedded; this cannot fail
		}
		return source{fsys: sub, prefix: "policies"}
	}
	return source{fsys: os.DirFS(dir), prefix: dir}
}

// read takes a snapshot of the top level of the source.
func (s source) read() (*policyFiles, error) {
	entries, err := fs.ReadDir(s.fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrLoad, s.prefix, err)
	}
	p := &policyFiles{}
	for _, e := range entries {
		list := p.listFor(e.Name())
		if list == nil || e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(s.fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s: %w", ErrLoad, s.join(e.Name()), err)
		}
		*list = append(*list, file{name: s.join(e.Name()), base: e.Name(), content: b})
	}
	if len(p.modules) == 0 {
		return nil, fmt.Errorf("%w: no .rego files in %s", ErrLoad, s.prefix)
	}
	p.revision = revisionOf(p.modules, p.data)
	return p, nil
}

// listFor returns the list a file of this name belongs to, or nil.
func (p *policyFiles) listFor(name string) *[]file {
	switch {
	case strings.HasPrefix(name, "."):
		return nil
	case strings.HasSuffix(name, "_test.rego"):
		return &p.tests
	case strings.HasSuffix(name, ".rego"):
		return &p.modules
	case slices.Contains(dataFiles, name):
		return &p.data
	}
	return nil
}

func (s source) join(base string) string { return filepath.Join(s.prefix, base) }

// revisionOf is a short hash of the names and contents of the files that
// decide (test files excluded), for the decision log and change detection.
func revisionOf(lists ...[]file) string {
	var all []file
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.SortFunc(all, func(a, b file) int { return strings.Compare(a.base, b.base) })
	h := sha256.New()
	for _, f := range all {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f.content)))
		h.Write([]byte(f.base))
		h.Write([]byte{0})
		h.Write(n[:])
		h.Write(f.content)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// parseModules parses Rego files with rego.v1 syntax.
func parseModules(files ...[]file) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module)
	opts := ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true}
	var errs []error
	for _, list := range files {
		for _, f := range list {
			m, err := ast.ParseModuleWithOpts(f.name, string(f.content), opts)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			mods[f.name] = m
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	return mods, nil
}

// parseData decodes and merges the data files into one document.
func parseData(files []file) (map[string]any, error) {
	doc := map[string]any{}
	for _, f := range files {
		js := f.content
		if !strings.HasSuffix(f.base, ".json") {
			var err error
			if js, err = yaml.YAMLToJSON(f.content); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrLoad, f.name, err)
			}
		}
		var v any
		if err := util.UnmarshalJSON(js, &v); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrLoad, f.name, err)
		}
		switch v := v.(type) {
		case nil: // an empty or all-comment file
		case map[string]any:
			if err := merge(doc, v, nil); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrLoad, f.name, err)
			}
		default:
			return nil, fmt.Errorf("%w: %s: top level must be an object, not %T", ErrLoad, f.name, v)
		}
	}
	return doc, nil
}

// merge adds src to dst; objects merge key by key, any other clash is an
// error rather than a silent override.
func merge(dst, src map[string]any, at []string) error {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok {
			dst[k] = sv
			continue
		}
		dm, dok := dv.(map[string]any)
		sm, sok := sv.(map[string]any)
		here := append(slices.Clip(at), k)
		if !dok || !sok {
			return fmt.Errorf("data.%s is defined by two data files", strings.Join(here, "."))
		}
		if err := merge(dm, sm, here); err != nil {
			return err
		}
	}
	return nil
}
