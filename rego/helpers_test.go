package rego

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// writeDir writes files (name -> content) into a fresh temporary directory.
func writeDir(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	writeFiles(tb, dir, files)
	return dir
}

func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// mustNew builds an Evaluator or fails the test.
func mustNew(tb testing.TB, cfg Config) *Evaluator {
	tb.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return e
}

// in builds an input for a signed-in caller in groups.
func in(groups []string, api, model string, opts ...func(*authz.Input)) *authz.Input {
	x := &authz.Input{
		Subject: &authz.Subject{
			ID:        "alice@example.com",
			Email:     "alice@example.com",
			Groups:    groups,
			IdP:       "https://idp.example.com/metadata",
			Auth:      authz.AuthCookie,
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		},
		Request: authz.InputRequest{Method: "POST", Path: "/v1/models/" + model + ":" + api, Host: "tfs", Protocol: authz.ProtocolREST},
		Target:  authz.InputTarget{API: api, Model: model, Signature: "serving_default"},
	}
	for _, o := range opts {
		o(x)
	}
	return x
}

func version(v int64) func(*authz.Input) {
	return func(x *authz.Input) { x.Target.Version = &v }
}

func label(l string) func(*authz.Input) {
	return func(x *authz.Input) { x.Target.Label = &l }
}

func scope(s ...string) func(*authz.Input) {
	return func(x *authz.Input) { x.Subject.Scope = s; x.Subject.Auth = authz.AuthBearer }
}

func anonymous(x *authz.Input) { x.Subject = nil }

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
