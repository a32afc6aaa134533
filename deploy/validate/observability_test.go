package validate

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The alert rules and the dashboard have one source, deploy/observability;
// `make manifests` copies them into the chart's files/.
var observabilityCopies = map[string]string{
	"../observability/alerts.yaml":            chartDir + "/files/alerts.yaml",
	"../observability/grafana-dashboard.json": chartDir + "/files/grafana-dashboard.json",
}

// TestObservabilityFilesMatchSource: the chart's copies are byte for byte
// the files in deploy/observability (which that module's tests check
// against a running tfgate).
func TestObservabilityFilesMatchSource(t *testing.T) {
	for src, dst := range observabilityCopies {
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run `make manifests` and commit the result", dst, src)
		}
	}
}

// TestChartObservability: with the example values that turn them on, the
// chart renders a PrometheusRule holding exactly the groups of
// alerts.yaml (decoded strictly into the Prometheus Operator's type), and
// a dashboard ConfigMap for Grafana's sidecar holding the dashboard JSON.
// With the defaults it renders neither.
func TestChartObservability(t *testing.T) {
	for _, o := range render(t, "") {
		if o.Kind == "PrometheusRule" || o.Name == "tfgate-dashboard" {
			t.Errorf("%s rendered with the defaults (off unless asked for)", o.ID())
		}
	}
	objs := render(t, filepath.Join(examplesDir, "values-servicemonitor.yaml"))

	o, ok := find(objs, "PrometheusRule", "tfgate")
	if !ok {
		t.Fatal("no PrometheusRule/tfgate with metrics.prometheusRule.enabled")
	}
	rule := mustDecode[monitoringv1.PrometheusRule](t, o)
	if rule.Labels["release"] != "prometheus" {
		t.Errorf("PrometheusRule labels %v: metrics.prometheusRule.labels not applied", rule.Labels)
	}
	src, err := os.ReadFile("../observability/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &want); err != nil {
		t.Fatalf("alerts.yaml does not decode as a PrometheusRule spec: %v", err)
	}
	if len(want.Groups) == 0 || len(want.Groups[0].Rules) < 6 {
		t.Fatalf("alerts.yaml: %d groups", len(want.Groups))
	}
	if !reflect.DeepEqual(rule.Spec, want) {
		t.Errorf("the PrometheusRule's spec is not alerts.yaml's groups:\n got %+v\nwant %+v", rule.Spec, want)
	}

	o, ok = find(objs, "ConfigMap", "tfgate-dashboard")
	if !ok {
		t.Fatal("no ConfigMap/tfgate-dashboard with metrics.grafanaDashboard.enabled")
	}
	cm := mustDecode[corev1.ConfigMap](t, o)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v: Grafana's sidecar looks for grafana_dashboard", cm.Labels)
	}
	var dash struct {
		Title  string
		Panels []json.RawMessage
	}
	if err := json.Unmarshal([]byte(cm.Data["tfgate.json"]), &dash); err != nil {
		t.Fatalf("the dashboard ConfigMap's tfgate.json: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 10 {
		t.Errorf("dashboard %q has %d panels", dash.Title, len(dash.Panels))
	}
	orig, _ := os.ReadFile("../observability/grafana-dashboard.json")
	if cm.Data["tfgate.json"] != string(bytes.TrimRight(orig, "\n")) {
		t.Error("the dashboard ConfigMap's tfgate.json is not grafana-dashboard.json")
	}
}
