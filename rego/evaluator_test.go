package rego

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/authz"
)

func TestEvaluateDefaultPolicy(t *testing.T) {
	e := mustNew(t, Config{})
	ml := []string{"ml-engineers"}
	tests := map[string]struct {
		in     *authz.Input
		allow  bool
		reason string // exact, or a substring when it starts with "~"
		status int
	}{
		"ml-engineers predict version": {in: in(ml, "predict", "half_plus_two", version(3)), allow: true,
			reason: "group ml-engineers grants predict on model half_plus_two version 3"},
		"ml-engineers predict label":  {in: in(ml, "predict", "half_plus_two", label("canary")), allow: true},
		"ml-engineers predict latest": {in: in(ml, "predict", "half_plus_two"), allow: true},
		"ml-engineers status all":     {in: in(ml, "model_status", "half_plus_two"), allow: true},
		"ml-engineers other model": {in: in(ml, "predict", "bert", version(1)),
			reason: "group membership does not grant predict on model bert version 1"},
		"ml-engineers multi_inference": {in: in(ml, "multi_inference", "half_plus_two")},
		"wrong group":                  {in: in([]string{"sales"}, "predict", "half_plus_two", version(1))},
		"nil groups":                   {in: in(nil, "predict", "half_plus_two", version(1))},
		"data-scientists metadata":     {in: in([]string{"data-scientists"}, "model_metadata", "resnet50", version(4)), allow: true},
		"data-scientists predict":      {in: in([]string{"data-scientists"}, "predict", "resnet50", version(1))},
		"resnet glob version 2":        {in: in([]string{"resnet-users"}, "predict", "resnet152", version(2)), allow: true},
		"resnet glob version 3": {in: in([]string{"resnet-users"}, "predict", "resnet152", version(3)),
			reason: "group membership does not grant predict on model resnet152 version 3"},
		"resnet label stable": {in: in([]string{"resnet-users"}, "predict", "resnet50", label("stable")), allow: true},
		"resnet label canary": {in: in([]string{"resnet-users"}, "predict", "resnet50", label("canary")),
			reason: "group membership does not grant predict on model resnet50 label canary"},
		"resnet latest": {in: in([]string{"resnet-users"}, "predict", "resnet50")},
		"anonymous":     {in: in(nil, "predict", "half_plus_two", anonymous), reason: "authentication required"},
		"reload_config": {in: in(ml, "reload_config", ""), reason: "~reserved for administrators"},
		"session_run":   {in: in(ml, "session_run", "half_plus_two"), reason: "~session_run"},
		"profiler":      {in: in(ml, "profiler", ""), reason: "~profiler"},
		"health":        {in: in(ml, "health", ""), reason: "~health"},
		"cors":          {in: in(ml, "cors_preflight", ""), reason: "~CORS"},
		"invalid":       {in: in(ml, "invalid", ""), reason: "~malformed", status: 400},
		"unknown":       {in: in(ml, "unknown", ""), reason: "~not a TensorFlow Serving", status: 404},
		"empty model":   {in: in([]string{"data-scientists"}, "model_status", ""), reason: "the request names no model"},
		"scope allows":  {in: in(ml, "predict", "half_plus_two", scope("model:half_plus_two")), allow: true},
		"scope narrows": {in: in(ml, "predict", "half_plus_two", scope("model:bert", "model:half_plus_two:model_status")),
			reason: "token scope does not include predict on model half_plus_two"},
		"scope glob and api": {in: in(ml, "predict", "half_plus_two", scope("model:half*:predict")), allow: true},
		"scope never widens": {in: in([]string{"sales"}, "predict", "half_plus_two", scope("model:*"))},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := e.Evaluate(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if v.Allow != tt.allow {
				t.Errorf("Allow = %v, want %v (reason %q)", v.Allow, tt.allow, v.Reason)
			}
			if v.Reason == "" {
				t.Error("empty reason")
			}
			if r, ok := strings.CutPrefix(tt.reason, "~"); ok && !strings.Contains(v.Reason, r) {
				t.Errorf("Reason = %q, want it to contain %q", v.Reason, r)
			} else if !ok && tt.reason != "" && v.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", v.Reason, tt.reason)
			}
			if v.Status != tt.status {
				t.Errorf("Status = %d, want %d", v.Status, tt.status)
			}
		})
	}
}

func TestEvaluateNilInput(t *testing.T) {
	e := mustNew(t, Config{})
	v, err := e.Evaluate(context.Background(), nil)
	if !errors.Is(err, ErrEvaluation) || v.Allow {
		t.Fatalf("Evaluate(nil) = %+v, %v; want ErrEvaluation", v, err)
	}
}

func TestEvaluateCancelled(t *testing.T) {
	e := mustNew(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err := e.Evaluate(ctx, in([]string{"ml-engineers"}, "predict", "half_plus_two"))
	if !errors.Is(err, ErrEvaluation) || v.Allow {
		t.Fatalf("Evaluate(cancelled) = %+v, %v; want ErrEvaluation and no allow", v, err)
	}
}

func TestRevision(t *testing.T) {
	a := mustNew(t, Config{}).Revision()
	if len(a) != 12 {
		t.Fatalf("Revision() = %q, want 12 hex digits", a)
	}
	// The same files in a directory have the same revision as embedded.
	files := map[string]string{}
	for _, name := range []string{"tfgate.rego", "data.yaml"} {
		b, err := embedded.ReadFile("policies/" + name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	dir := writeDir(t, files)
	if b := mustNew(t, Config{Dir: dir}).Revision(); b != a {
		t.Errorf("directory revision %q != embedded %q", b, a)
	}
	// Test files and unrelated files do not change it.
	writeFiles(t, dir, map[string]string{"x_test.rego": "package x_test\n", "README.md": "hi", ".hidden.rego": "broken"})
	if b := mustNew(t, Config{Dir: dir}).Revision(); b != a {
		t.Errorf("revision changed by test/unrelated files: %q != %q", b, a)
	}
	writeFiles(t, dir, map[string]string{"data.yaml": files["data.yaml"] + "\n# edited\n"})
	if b := mustNew(t, Config{Dir: dir}).Revision(); b == a {
		t.Error("revision did not change after editing data.yaml")
	}
}

func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	okPolicy := "package tfgate.authz\ndefault decision := {\"allow\": false, \"reason\": \"no\"}\n"
	tests := map[string]struct {
		cfg  Config
		want error
	}{
		"bad query":      {cfg: Config{Query: "data.x["}, want: ErrConfig},
		"negative poll":  {cfg: Config{PollInterval: -1}, want: ErrConfig},
		"missing dir":    {cfg: Config{Dir: "/nonexistent/tfgate"}, want: ErrLoad},
		"no rego files":  {cfg: Config{Dir: writeDir(t, map[string]string{"data.yaml": "a: 1\n"})}, want: ErrLoad},
		"syntax error":   {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": "package tfgate.authz\ndecision := {\n"})}, want: ErrCompile},
		"v0 syntax":      {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": "package tfgate.authz\ndecision = {\"allow\": true, \"reason\": \"x\"} { true }\n"})}, want: ErrCompile},
		"unsafe var":     {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": "package tfgate.authz\ndecision := {\"allow\": x, \"reason\": \"x\"}\n"})}, want: ErrCompile},
		"bad yaml":       {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": okPolicy, "data.yaml": "a: [\n"})}, want: ErrLoad},
		"yaml not a map": {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": okPolicy, "data.yaml": "- 1\n"})}, want: ErrLoad},
		"data clash": {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": okPolicy,
			"data.yaml": "a: {b: 1}\n", "data.json": `{"a": {"b": 2}}`})}, want: ErrLoad},
		"rule over data": {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": okPolicy,
			"data.json": `{"tfgate": {"authz": {"decision": 1}}}`})}, want: ErrCompile},
		"wrong package": {cfg: Config{Dir: writeDir(t, map[string]string{"p.rego": "package tfgate.authx\ndecision := {\"allow\": false, \"reason\": \"no\"}\n"})},
			want: authz.ErrInvalidDecision},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := New(ctx, tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, %v; want %v", e, err, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestDataFilesMerge(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"p.rego": `package tfgate.authz
decision := {"allow": data.a.b == 1, "reason": data.a.c}
`,
		"data.yaml":  "a: {b: 1}\n",
		"data.json":  `{"a": {"c": "from json"}}`,
		"other.json": `{"a": {"b": 2}}`, // not a data file: ignored
	})
	v, err := mustNew(t, Config{Dir: dir}).Evaluate(context.Background(), in(nil, "predict", "m"))
	if err != nil || !v.Allow || v.Reason != "from json" {
		t.Fatalf("Evaluate = %+v, %v", v, err)
	}
}
