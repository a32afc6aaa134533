package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/loadgen"
)

// TestRunPrintsTable runs the command on two quick scenarios.
func TestRunPrintsTable(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-duration", "100ms", "-warmup", "0", "-concurrency", "1,4",
		"-scenarios", "noop,deny-anonymous"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	for _, want := range []string{"scenario", "p99.9", "noop", "deny-anonymous", "deny 401", ratioNote} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	noops := 0
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "noop ") {
			noops++
			last := strings.Fields(line)
			if !strings.Contains(line, "1.00") || (last[len(last)-1] != "0" && last[len(last)-1] != "-") {
				t.Errorf("the baseline's ratios should be 1.00 and its -noop CPU 0 (or - under a clock tick): %q", line)
			}
		}
	}
	if noops != 2 {
		t.Errorf("%d noop rows, want one per in-flight count (2):\n%s", noops, text)
	}
}

func TestParseFlags(t *testing.T) {
	tests := map[string]struct {
		args    []string
		wantErr string
	}{
		"defaults":            {args: nil},
		"unknown scenario":    {args: []string{"-scenarios", "noop,allow-all"}, wantErr: `unknown scenario "allow-all"`},
		"no scenario":         {args: []string{"-scenarios", " , "}, wantErr: "names no scenario"},
		"zero duration":       {args: []string{"-duration", "0s"}, wantErr: "-duration must be positive"},
		"zero concurrency":    {args: []string{"-concurrency", "0"}, wantErr: "at least 1"},
		"bad list":            {args: []string{"-concurrency", "1,x"}, wantErr: "at least 1"},
		"stray argument":      {args: []string{"noop"}, wantErr: "unexpected arguments"},
		"max requests":        {args: []string{"-max-requests", "1000"}},
		"one round":           {args: []string{"-rounds", "1"}},
		"zero rounds":         {args: []string{"-rounds", "0"}, wantErr: "-rounds 0: must be at least 1"},
		"negative rounds":     {args: []string{"-rounds", "-2"}, wantErr: "-rounds -2: must be at least 1"},
		"rounds not a number": {args: []string{"-rounds", "x"}, wantErr: "invalid value"},
		"scenarios trimmed":   {args: []string{"-scenarios", "noop, allow-memory"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.scenarios) == 0 || o.measure.Duration <= 0 {
				t.Errorf("options %+v", o)
			}
		})
	}
	o, _ := parseFlags(nil, io.Discard)
	if o.rounds != 3 {
		t.Errorf("default -rounds = %d, want 3", o.rounds)
	}
	if o.measure.Duration != 5*time.Second || !slices.Equal(o.concurrency, []int{1, 16, 64}) || len(o.scenarios) != len(loadgen.Scenarios()) {
		t.Errorf("defaults: duration %v, concurrency %v, %d scenarios", o.measure.Duration, o.concurrency, len(o.scenarios))
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestFormatLatency(t *testing.T) {
	tests := map[time.Duration]string{
		0:                        "-",
		1500 * time.Nanosecond:   "1.50µs",
		42300 * time.Nanosecond:  "42.3µs",
		734 * time.Microsecond:   "734µs",
		1234 * time.Microsecond:  "1.23ms",
		12345 * time.Microsecond: "12.3ms",
		1500 * time.Millisecond:  "1500ms",
	}
	for d, want := range tests {
		if got := formatLatency(d); got != want {
			t.Errorf("formatLatency(%v) = %q, want %q", d, got, want)
		}
	}
	if got := formatRatio(math.NaN()); got != "-" {
		t.Errorf("a ratio without a baseline = %q, want -", got)
	}
	if got := formatRatio(3.0 / 2); got != "1.50" {
		t.Errorf("formatRatio(1.5) = %q", got)
	}
}

func TestWriteTableAligns(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, [][]string{
		{"scenario", "outcome", "p50", "×noop"},
		{"noop", "allow", "734µs", "1.00"},
		{"allow-memory", "deny 401", "12.3ms", "16.76"},
	})
	want := "scenario      outcome      p50  ×noop\n" +
		"noop          allow      734µs   1.00\n" +
		"allow-memory  deny 401  12.3ms  16.76\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestRunWritesCPUProfile: -cpuprofile leaves a profile pprof can read.
func TestRunWritesCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.out")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"-duration", "200ms", "-warmup", "0", "-concurrency", "4",
		"-scenarios", "allow-memory", "-cpuprofile", path}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	// A profile is a gzipped protocol buffer: it must inflate to
	// something.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("the CPU profile is not gzipped: %v", err)
	}
	body, err := io.ReadAll(zr)
	if err != nil || len(body) == 0 {
		t.Fatalf("the CPU profile inflates to %d bytes: %v", len(body), err)
	}
}
