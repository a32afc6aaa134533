package loadgen

import (
	"runtime"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	line := []byte("1234 (tfgate bench) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0\n")
	got, ok := parseStatCPU(line)
	if !ok || got != 3250*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 3.25s (325 ticks)", got, ok)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1 0"} {
		if _, ok := parseStatCPU([]byte(bad)); ok {
			t.Errorf("parseStatCPU(%q) ok, want not ok", bad)
		}
	}
}

func TestProcessCPUAdvances(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	before, ok := processCPU()
	if !ok {
		t.Fatal("no /proc/self/stat")
	}
	// Spin until the clock ticks twice; a frozen or wrongly parsed
	// counter never does.
	deadline := time.Now().Add(20 * time.Second)
	for {
		after, ok := processCPU()
		if ok && after-before >= 20*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s of spinning advanced CPU time by %v", after-before)
		}
	}
}
