package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPprofListenMustBeLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"": true, "127.0.0.1:6060": true, "[::1]:6060": true, "localhost:0": true,
		":6060": false, "0.0.0.0:6060": false, "10.0.0.1:6060": false, "example.com:6060": false, "6060": false,
	} {
		var problems []string
		DebugConfig{PprofListen: addr}.validate(func(path, format string, args ...any) { problems = append(problems, path) })
		if (len(problems) == 0) != ok {
			t.Errorf("pprof_listen %q: problems %v, want ok=%v", addr, problems, ok)
		}
	}
	_, err := ParseConfig("c.yaml", []byte("debug:\n  pprof_listen: \":6060\"\n"), noEnv)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("ParseConfig with pprof on every interface: %v", err)
	}
}

func TestPprofHandlerServesProfiles(t *testing.T) {
	srv := httptest.NewServer(pprofHandler())
	defer srv.Close()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1", "/debug/pprof/cmdline"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}
}

func TestServePprofStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- servePprof(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler)) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("servePprof = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("servePprof did not return after its context ended")
	}
	if err := servePprof(context.Background(), "", nil); err != nil {
		t.Errorf("servePprof(\"\") = %v, want nil (off)", err)
	}
}
