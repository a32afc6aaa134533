package validate

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoPath finds the repository paths a document names.
var repoPath = regexp.MustCompile("(?:deploy|rego|docs|envoy)/[A-Za-z0-9_./-]+[A-Za-z0-9_/-]")

// TestWalkthroughNamesValidatedFiles: every file docs/kubernetes.md
// names exists, and every deploy/ file it names is one these tests
// validate, so the walkthrough cannot point an operator at something
// unchecked or gone.
func TestWalkthroughNamesValidatedFiles(t *testing.T) {
	doc, err := os.ReadFile(walkthrough)
	if err != nil {
		t.Fatal(err)
	}
	validated := map[string]bool{"deploy/helm/tfgate/": true, "deploy/helm/tfgate/values.yaml": true,
		"deploy/kubernetes/tfgate.yaml": true, "deploy/istio/": true, "deploy/envoy-gateway/": true,
		"deploy/helm/tfgate/examples/": true,
		// the chart's PrometheusRule and dashboard: TestObservabilityFilesMatchSource
		"deploy/observability/": true}
	for _, vf := range valuesFiles(t)[1:] {
		validated[rel(t, vf)] = true
	}
	for _, dir := range []string{istioDir, egDir} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			validated[rel(t, f)] = true
		}
	}
	seen := 0
	for _, p := range repoPath.FindAllString(string(doc), -1) {
		p = strings.TrimSuffix(p, ".")
		if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
			t.Errorf("docs/kubernetes.md names %s, which does not exist", p)
			continue
		}
		if strings.HasPrefix(p, "deploy/") {
			seen++
			if !validated[p] && !validated[p+"/"] {
				t.Errorf("docs/kubernetes.md names %s, which no test here validates", p)
			}
		}
	}
	if seen < 10 {
		t.Errorf("docs/kubernetes.md names only %d deploy/ files", seen)
	}
	// Every file shipped under deploy/istio and deploy/envoy-gateway is
	// applied by the walkthrough.
	for p := range validated {
		if strings.HasSuffix(p, ".yaml") && !strings.Contains(string(doc), p) {
			t.Errorf("docs/kubernetes.md never names %s", p)
		}
	}
}

func rel(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs(repoRoot)
	r, err := filepath.Rel(root, abs)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(r)
}
