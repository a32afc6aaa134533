// Package observability tests the Grafana dashboard and the Prometheus
// alerting rules shipped beside it: every PromQL expression parses with
// Prometheus' own parser, the rule file passes Prometheus' own rule-file
// validation, and every metric they name is exported by a running tfgate
// (the extauthz binary built from this repository, with Redis sessions and
// an IdP, scraped on a loopback port). It is its own Go module so that
// Prometheus does not become a dependency of tfgate.
package observability

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/redistest"
)

// expr is one PromQL expression and where it comes from.
type expr struct{ where, text string }

func alertExprs(t *testing.T) []expr {
	t.Helper()
	data, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Prometheus' own validation: YAML shape, durations, templates, and
	// each expression.
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("alerts.yaml: %v", err)
	}
	var out []expr
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %q needs an alert name, a severity, a summary and a description", r.Alert)
			}
			out = append(out, expr{"alert " + r.Alert, r.Expr})
		}
	}
	return out
}

// grafanaVars are the dashboard's variables with values Prometheus accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$job", ".*")

func dashboardExprs(t *testing.T) []expr {
	t.Helper()
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var out []expr
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, expr{"panel " + p.Title, grafanaVars.Replace(tg.Expr)})
		}
	}
	return out
}

// metricNames returns the metric names expression e selects.
func metricNames(t *testing.T, e expr) []string {
	t.Helper()
	node, err := parser.NewParser(parser.Options{}).ParseExpr(e.text)
	if err != nil {
		t.Errorf("%s: %v\n%s", e.where, err, e.text)
		return nil
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s selects no metric: %s", e.where, e.text)
	}
	return names
}

func TestExpressionsUseExportedMetrics(t *testing.T) {
	exprs := append(alertExprs(t), dashboardExprs(t)...)
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	exported := scrapeRunningTfgate(t)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, name := range metricNames(t, e) {
			used[strings.TrimSuffix(name, "_bucket")] = true
			if !exported[name] {
				t.Errorf("%s uses %s, which a running tfgate does not export", e.where, name)
			}
		}
	}
	// The other way round: every metric tfgate's code defines is on the
	// dashboard or in an alert, or is named here with the reason it is not.
	for _, name := range definedMetrics(t) {
		if !used[name] && notShown[name] == "" {
			t.Errorf("%s is defined in tfgate's code but neither the dashboard nor an alert uses it (add a panel, or say why in notShown)", name)
		}
	}
	// The alerts the operators were promised.
	var alerts []string
	for _, e := range alertExprs(t) {
		alerts = append(alerts, e.where)
	}
	for _, want := range []string{"TfgateCheckErrors", "TfgateCheckLatencyHigh", "TfgateRedisErrors", "TfgatePolicyReloadFailed",
		"TfgateIdPCertificateExpiring", "TfgateSessionInvalidationDown", "TfgateChecksShed"} {
		if !slices.Contains(alerts, "alert "+want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// notShown are metrics tfgate defines that the dashboard and the alerts
// leave out on purpose, and why.
var notShown = map[string]string{
	"tfgate_start_time_seconds":                           "process metadata; uptime is on /statusz",
	"tfgate_policy_last_reload_success_timestamp_seconds": "the same fact as tfgate_policy_seconds_since_last_reload_success, which is shown",
	// Exported only when policy bundles or a shadow policy are configured,
	// which the scraped tfgate is not (a panel on them could not be
	// checked against a running tfgate here).
	"tfgate_policy_bundle_failures_total":                 "bundles only",
	"tfgate_policy_bundle_installs_total":                 "bundles only",
	"tfgate_policy_bundle_last_success_timestamp_seconds": "bundles only",
	"tfgate_policy_shadow_disagreements_total":            "shadow policy only",
	"tfgate_policy_shadow_dropped_total":                  "shadow policy only",
	"tfgate_policy_shadow_errors_total":                   "shadow policy only",
	"tfgate_policy_shadow_evaluated_total":                "shadow policy only",
}

// metricNameInCode is a metric name as tfgate's code spells it.
// (the name passed as Name: or to prometheus.NewDesc).
var metricNameInCode = regexp.MustCompile(`(?:Name:\s*|NewDesc\(\s*)"(tfgate_[a-z0-9_]+)"`)

// definedMetrics are the metric names in tfgate's non-test Go code.
func definedMetrics(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || path == "../../deploy") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricNameInCode.FindAllSubmatch(src, -1) {
			seen[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 25 {
		t.Fatalf("found only %d metric definitions in the code: %v", len(seen), seen)
	}
	return slices.Sorted(maps.Keys(seen))
}

// scrapeRunningTfgate builds and starts extauthz serve with Redis sessions
// and one IdP, and returns the metric names its /metrics exposes
// (histograms also under their _bucket, _count and _sum series).
func scrapeRunningTfgate(t *testing.T) map[string]bool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "extauthz")
	build := exec.Command("go", "build", "-o", bin, "./cmd/extauthz")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building extauthz: %v\n%s", err, out)
	}
	rds := redistest.Start(t)
	idp, err := devidp.New(devidp.Config{BaseURL: "http://127.0.0.1:9", SPs: []devidp.SP{{
		EntityID: "http://127.0.0.1:8080/saml/metadata", ACSURLs: []string{"http://127.0.0.1:8080/saml/acs"}}}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	mdFile := filepath.Join(dir, "idp.xml")
	cfgFile := filepath.Join(dir, "extauthz.yaml")
	cfg := `listen: {grpc: "127.0.0.1:0", http: "127.0.0.1:0", shutdown_timeout: 1s}
decision_log: {path: "off"}
sessions:
  store: redis
  cookie_name: tfgate
  redis: {addrs: ["` + rds.Addr + `"], prefix: "obsrules:"}
saml:
  base_url: http://127.0.0.1:8080
  idps: [{name: dev, metadata_file: "` + mdFile + `"}]
`
	// A validUntil, so that its metric is exported too.
	md = []byte(strings.Replace(string(md), "<md:EntityDescriptor ", `<md:EntityDescriptor validUntil="2100-01-01T00:00:00Z" `, 1))
	if err := os.WriteFile(mdFile, md, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgFile)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	var started struct{ HTTP string }
	lines := bufio.NewScanner(stderr)
	var seen []string
	for started.HTTP == "" && lines.Scan() {
		seen = append(seen, lines.Text())
		if strings.Contains(lines.Text(), "extauthz started") {
			_ = json.Unmarshal(lines.Bytes(), &started)
		}
	}
	if started.HTTP == "" {
		t.Fatalf("extauthz did not start:\n%s", strings.Join(seen, "\n"))
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	resp, err := http.Get("http://" + started.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	names := map[string]bool{}
	for l := range strings.SplitSeq(string(body), "\n") {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			if f[3] == "histogram" {
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					names[f[2]+suffix] = true
				}
			}
		}
	}
	if !names["tfgate_build_info"] {
		t.Fatalf("/metrics has no tfgate_build_info:\n%s", body)
	}
	return names
}

// TestRulesAreYAML guards the file's shape for tools that read it without
// Prometheus' loader (the Helm chart's PrometheusRule embeds the groups).
func TestRulesAreYAML(t *testing.T) {
	data, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []map[string]any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Groups) == 0 {
		t.Fatalf("alerts.yaml: %v (%d groups)", err, len(doc.Groups))
	}
}
