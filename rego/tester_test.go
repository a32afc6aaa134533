package rego

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestEmbeddedPolicyRegoTests(t *testing.T) {
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), "", &out, false)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if failed != 0 || passed < 40 {
		t.Fatalf("passed %d, failed %d:\n%s", passed, failed, out.String())
	}
	if !strings.Contains(out.String(), "PASS: ") {
		t.Errorf("no PASS summary:\n%s", out.String())
	}
}

func TestRunTestsReportsFailures(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"p.rego":      "package p\nx := data.num\n",
		"data.yaml":   "num: 2\n",
		"p_test.rego": "package p_test\nimport data.p\ntest_ok if p.x == 2\ntest_bad if p.x == 3\n",
	})
	var out bytes.Buffer
	passed, failed, err := RunTests(context.Background(), dir, &out, true)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if passed != 1 || failed != 1 {
		t.Errorf("passed %d, failed %d; want 1 and 1", passed, failed)
	}
	for _, want := range []string{"data.p_test.test_ok: PASS", "data.p_test.test_bad: FAIL", "PASS: 1/2", "FAIL: 1/2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTestsCompileError(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"p.rego":      "package p\nx := 1\n",
		"p_test.rego": "package p_test\ntest_x if y == 1\n",
	})
	_, _, err := RunTests(context.Background(), dir, &bytes.Buffer{}, false)
	if !errors.Is(err, ErrCompile) {
		t.Fatalf("RunTests = %v, want ErrCompile", err)
	}
}
