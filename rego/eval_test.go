package rego

import (
	"context"
	"errors"
	"testing"
)

func TestEvalInput(t *testing.T) {
	ctx := context.Background()
	doc := `{
	  "subject": {"id": "bob", "email": "bob@example.com", "groups": ["resnet-users"],
	              "idp": "https://idp", "auth": "bearer", "expires_at": "2030-01-01T00:00:00Z"},
	  "request": {"method": "POST", "path": "/v1/models/resnet50/versions/2:predict", "host": "tfs", "protocol": "rest"},
	  "target": {"api": "predict", "model": "resnet50", "version": 2, "label": null, "signature": ""}
	}`
	v, err := EvalInput(ctx, "", []byte(doc))
	if err != nil || !v.Allow {
		t.Fatalf("EvalInput = %+v, %v; want allow", v, err)
	}
	if want := "group resnet-users grants predict on model resnet50 version 2"; v.Reason != want {
		t.Errorf("Reason = %q, want %q", v.Reason, want)
	}

	for name, bad := range map[string]string{
		"unknown field": `{"subject": null, "target": {"api": "predict", "modle": "m"}}`,
		"not json":      `subject: null`,
		"trailing":      `{} {}`,
		"version text":  `{"target": {"version": "2"}}`,
	} {
		if _, err := EvalInput(ctx, "", []byte(bad)); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: EvalInput = %v, want ErrInvalidInput", name, err)
		}
	}
}
