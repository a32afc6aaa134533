package rego

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// versioned is a policy whose reason says which edit is in force.
func versioned(reason string) string {
	return fmt.Sprintf("package tfgate.authz\ndecision := {\"allow\": data.open, \"reason\": %q}\n", reason)
}

const broken = "package tfgate.authz\ndecision := {\"allow\": true, \"reason\": \n"

// replace writes a file atomically (a hidden temporary file, then rename), so
// a polling watcher never reads half an edit.
func replace(tb testing.TB, dir, name, content string) {
	tb.Helper()
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		tb.Fatal(err)
	}
}

// reason evaluates e on a fixed input and returns the reason, or the error.
func reason(tb testing.TB, e *Evaluator) string {
	tb.Helper()
	v, err := e.Evaluate(context.Background(), in([]string{"g"}, "predict", "m"))
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%s allow=%v", v.Reason, v.Allow)
}

func TestReload(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.rego": versioned("v1"), "data.json": `{"open": true}`})
	e := mustNew(t, Config{Dir: dir})
	if got := reason(t, e); got != "v1 allow=true" {
		t.Fatalf("initial: %s", got)
	}
	rev1 := e.Revision()

	replace(t, dir, "p.rego", versioned("v2"))
	if err := e.Reload(); err != nil {
		t.Fatalf("Reload v2: %v", err)
	}
	if got := reason(t, e); got != "v2 allow=true" {
		t.Fatalf("after v2: %s", got)
	}
	rev2 := e.Revision()
	if rev2 == rev1 {
		t.Error("revision unchanged after an edit")
	}

	replace(t, dir, "p.rego", broken)
	err := e.Reload()
	if !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), "p.rego:3") {
		t.Fatalf("Reload broken = %v, want ErrCompile naming p.rego:3", err)
	}
	if got := reason(t, e); got != "v2 allow=true" || e.Revision() != rev2 {
		t.Fatalf("after a broken edit: %s (revision %s), want v2 kept", got, e.Revision())
	}
	st := e.Status()
	if st.LastReloadOK || st.Revision != rev2 || st.FailedRevision == "" || st.FailedRevision == rev2 ||
		!strings.Contains(st.LastReloadError, "p.rego:3") || st.Reloads != 2 || st.ReloadFailures != 1 {
		t.Fatalf("Status after a failed reload = %+v", st)
	}

	replace(t, dir, "p.rego", versioned("v3"))
	replace(t, dir, "data.json", `{"open": false}`)
	if err := e.Reload(); err != nil {
		t.Fatalf("Reload v3: %v", err)
	}
	if got := reason(t, e); got != "v3 allow=false" {
		t.Fatalf("after the fix: %s", got)
	}
	if st := e.Status(); !st.LastReloadOK || st.LastReloadError != "" || st.Revision != e.Revision() || st.Reloads != 3 {
		t.Fatalf("Status after the fix = %+v", st)
	}
}

// syncBuffer is a log sink the watcher goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatch(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.rego": versioned("v1"), "data.json": `{"open": true}`})
	e := mustNew(t, Config{Dir: dir, PollInterval: 5 * time.Millisecond})
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, log) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v, want nil", err)
		}
	}()

	replace(t, dir, "p.rego", versioned("v2"))
	eventually(t, "v2 in force", func() bool { return reason(t, e) == "v2 allow=true" })
	eventually(t, "a reload log line", func() bool { return strings.Contains(logs.String(), "policy reloaded") })

	failures := func() int { return strings.Count(logs.String(), "policy reload failed") }
	replace(t, dir, "p.rego", broken)
	eventually(t, "the first failure logged", func() bool { return failures() >= 1 })
	if got := reason(t, e); got != "v2 allow=true" {
		t.Fatalf("after a broken edit: %s, want v2 kept", got)
	}
	// A second, different broken revision is logged too; by then the first
	// has been polled many times, so exactly two lines mean "once per bad
	// revision".
	replace(t, dir, "p.rego", broken+"# still broken\n")
	eventually(t, "the second failure logged", func() bool { return failures() >= 2 })
	if n := failures(); n != 2 {
		t.Errorf("%d failure lines for 2 bad revisions:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "p.rego:3") {
		t.Errorf("failure log lacks the compile error position:\n%s", logs.String())
	}

	if st := e.Status(); st.LastReloadOK || st.ReloadFailures != 2 {
		t.Errorf("Status while broken = %+v", st)
	}
	if strings.Contains(logs.String(), "policy restored") {
		t.Errorf("restored logged before any fix:\n%s", logs.String())
	}

	replace(t, dir, "data.json", `{"open": false}`) // still broken: p.rego
	replace(t, dir, "p.rego", versioned("v3"))
	eventually(t, "v3 in force", func() bool { return reason(t, e) == "v3 allow=false" })
	eventually(t, "policy restored logged", func() bool { return strings.Contains(logs.String(), "policy restored") })
	if st := e.Status(); !st.LastReloadOK || st.Revision != e.Revision() {
		t.Errorf("Status after the fix = %+v", st)
	}
}

func TestWatchRestoredWhenBrokenEditUndone(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.rego": versioned("v1"), "data.json": `{"open": true}`})
	e := mustNew(t, Config{Dir: dir, PollInterval: 5 * time.Millisecond})
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Watch(ctx, slog.New(slog.NewTextHandler(&logs, nil))) }()
	replace(t, dir, "p.rego", broken)
	eventually(t, "the failure recorded", func() bool { return !e.Status().LastReloadOK })
	replace(t, dir, "p.rego", versioned("v1"))
	eventually(t, "policy restored logged", func() bool { return strings.Contains(logs.String(), "policy restored") })
	if st := e.Status(); !st.LastReloadOK {
		t.Errorf("Status after undoing the edit = %+v", st)
	}
}

func TestStatusCountsDecisionCache(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.rego": versioned("v1"), "data.json": `{"open": true}`})
	e := mustNew(t, Config{Dir: dir, DecisionCacheEntries: 100})
	for range 3 {
		reason(t, e)
	}
	if st := e.Status(); st.CacheMisses != 1 || st.CacheHits != 2 {
		t.Errorf("cache counts = %d hits, %d misses; want 2, 1", st.CacheHits, st.CacheMisses)
	}
	v, _ := e.Evaluate(context.Background(), in([]string{"g"}, "predict", "m"))
	if !v.Cached {
		t.Error("a cache hit's verdict is not marked Cached")
	}
}

func TestWatchEmbeddedWaitsForContext(t *testing.T) {
	e := mustNew(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, slog.New(slog.DiscardHandler)) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

// Evaluations running while reloads swap policies see one policy or the
// other, never an error (run with -race).
func TestReloadConcurrentWithEvaluate(t *testing.T) {
	dir := writeDir(t, map[string]string{"p.rego": versioned("a"), "data.json": `{"open": true}`})
	e := mustNew(t, Config{Dir: dir})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := reason(t, e); got != "a allow=true" && got != "b allow=true" {
					t.Errorf("mid-reload evaluation: %s", got)
					return
				}
			}
		})
	}
	for i := range 20 {
		replace(t, dir, "p.rego", versioned(string(rune('a'+i%2))))
		if err := e.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}
