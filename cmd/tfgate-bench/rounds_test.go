package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/internal/loadgen"
)

// fakeRound is one round's result: 1000 requests at rps req/s, every
// latency lat (below 128ns, which the histogram keeps exactly) and cpu of
// CPU per request.
func fakeRound(rps float64, lat, cpu time.Duration) loadgen.Result {
	const n = 1000
	h := &loadgen.Histogram{}
	for range n {
		h.Record(lat)
	}
	return loadgen.Result{
		Requests: n,
		Elapsed:  time.Duration(n / rps * float64(time.Second)),
		Latency:  h,
		CPU:      cpu * n,
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},                // odd: the middle one
		{[]float64{4, 1, 3, 2}, 2.5},           // even: the mean of the two middle ones
		{[]float64{0.5, 0.52, 0.1}, 0.5},       // an outlier low
		{[]float64{0.4, 0.5, 0.6, 10}, 0.55},   // an outlier high, even count
		{[]float64{9, 9, 1, 9, 9, 1000}, 9},    // two outliers
		{[]float64{-1, 5, 2, 2, 100}, 2},       // duplicates
		{[]float64{1e6, 2e6, 3e6, 4e6}, 2.5e6}, // large
	}
	for _, tc := range tests {
		in := append([]float64(nil), tc.in...)
		if got := median(tc.in); !near(got, tc.want) {
			t.Errorf("median(%v) = %v, want %v", in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("median reordered its argument: %v, was %v", tc.in, in)
				break
			}
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

// TestSummarizeOddRounds: three rounds in which the noop itself moves. The
// ratio must be the median of the per-round ratios (0.5), neither the
// ratio of the medians (8000/12000 = 0.67) nor their mean (0.55).
func TestSummarizeOddRounds(t *testing.T) {
	base := []loadgen.Result{
		fakeRound(10000, 40, 100*time.Microsecond),
		fakeRound(20000, 20, 80*time.Microsecond),
		fakeRound(12000, 50, 90*time.Microsecond),
	}
	rounds := []loadgen.Result{
		fakeRound(5000, 100, 130*time.Microsecond), // 0.50x, p50 2.5x, +30µs
		fakeRound(8000, 36, 90*time.Microsecond),   // 0.40x, p50 1.8x, +10µs
		fakeRound(9000, 90, 110*time.Microsecond),  // 0.75x, p50 1.8x, +20µs
	}
	s := summarize(rounds, base)
	if !near(s.rps, 8000) {
		t.Errorf("req/s = %v, want the median 8000", s.rps)
	}
	if !near(s.rpsRatio, 0.5) {
		t.Errorf("req/s ×noop = %v, want 0.5, the median of 0.5, 0.4, 0.75", s.rpsRatio)
	}
	if !near(s.rpsLo, 0.4) || !near(s.rpsHi, 0.75) {
		t.Errorf("min–max = %v–%v, want 0.4–0.75", s.rpsLo, s.rpsHi)
	}
	if s.latency[0] != 90 {
		t.Errorf("p50 = %v, want the median 90ns", s.latency[0])
	}
	// Not 90/40 = 2.25 (ratio of medians), nor the median of 2.5, 0.9,
	// 2.25 (each round divided by round 1's noop).
	if !near(s.latRatio[0], 1.8) {
		t.Errorf("p50 ×noop = %v, want 1.8, the median of 2.5, 1.8, 1.8", s.latRatio[0])
	}
	if s.cpu != 110*time.Microsecond {
		t.Errorf("CPU/Check = %v, want the median 110µs", s.cpu)
	}
	if !s.hasCPUOverNoop || s.cpuOverNoop != 20*time.Microsecond {
		t.Errorf("-noop = %v (%v), want 20µs, the median of +30, +10, +20", s.cpuOverNoop, s.hasCPUOverNoop)
	}
}

// TestSummarizeEvenRoundsOutlier: with four rounds the median is the mean
// of the middle two, and one wild round moves only the min–max.
func TestSummarizeEvenRoundsOutlier(t *testing.T) {
	var base, rounds []loadgen.Result
	for _, rps := range []float64{4000, 5000, 6000, 100000} {
		base = append(base, fakeRound(10000, 50, 100*time.Microsecond))
		rounds = append(rounds, fakeRound(rps, 100, 150*time.Microsecond))
	}
	s := summarize(rounds, base)
	if !near(s.rps, 5500) || !near(s.rpsRatio, 0.55) {
		t.Errorf("req/s = %v ×noop %v, want 5500 and 0.55", s.rps, s.rpsRatio)
	}
	if !near(s.rpsLo, 0.4) || !near(s.rpsHi, 10) {
		t.Errorf("min–max = %v–%v, want 0.4–10", s.rpsLo, s.rpsHi)
	}
	if !near(s.latRatio[2], 2) || s.cpuOverNoop != 50*time.Microsecond {
		t.Errorf("p99.9 ×noop %v, -noop %v; want 2 and +50µs", s.latRatio[2], s.cpuOverNoop)
	}
}

// TestSummarizeWithoutBaseline: no noop, no ratios; a round whose CPU was
// under a clock tick does not drag the median to 0.
func TestSummarizeWithoutBaseline(t *testing.T) {
	rounds := []loadgen.Result{fakeRound(100, 10, 0), fakeRound(300, 30, 40*time.Microsecond), fakeRound(200, 20, 60*time.Microsecond)}
	s := summarize(rounds, nil)
	if !near(s.rps, 200) || s.latency[0] != 20 {
		t.Errorf("req/s %v, p50 %v; want 200 and 20ns", s.rps, s.latency[0])
	}
	if !math.IsNaN(s.rpsRatio) || !math.IsNaN(s.rpsLo) || !math.IsNaN(s.latRatio[0]) || s.hasCPUOverNoop {
		t.Errorf("ratios without a baseline: %+v", s)
	}
	if s.cpu != 50*time.Microsecond {
		t.Errorf("CPU/Check = %v, want 50µs, the median of the two rounds that measured it", s.cpu)
	}
}

// TestReportRows: the printed row is the medians, the per-round ratio, its
// min–max and the totals, and errors of any round fail the run.
func TestReportRows(t *testing.T) {
	rep := report{cfg: loadgen.MeasureConfig{RunConfig: loadgen.RunConfig{Duration: time.Second}}, concurrency: []int{16}, rounds: 3}
	noop := []float64{10000, 20000, 12000}
	scen := []float64{5000, 8000, 9000}
	for i := range 3 {
		rep.add(loadgen.Noop, 16, measured{Result: fakeRound(noop[i], 40, 100*time.Microsecond), expect: "allow"})
		r := fakeRound(scen[i], 80, 130*time.Microsecond)
		if i == 1 {
			r.Errors, r.FirstErr = 7, errors.New("rpc error: code = Unavailable")
			r.ErrorsByCode = map[codes.Code]uint64{codes.Unavailable: 7}
		}
		rep.add("allow-redis", 16, measured{Result: r, expect: "allow", shed: 2})
	}
	if len(rep.rows) != 2 || len(rep.rows[1].rounds) != 3 {
		t.Fatalf("rows: %+v", rep.rows)
	}
	cells := rep.cells()
	wantHead := "scenario outcome in flight requests errors req/s ×noop min–max p50 ×noop p99 ×noop p99.9 ×noop CPU/Check -noop"
	if got := strings.Join(cells[0], " "); got != wantHead {
		t.Errorf("header:\n%s\nwant:\n%s", got, wantHead)
	}
	want := [][]string{
		{"noop", "allow", "16", "3000", "0", "12000", "1.00", "1.00–1.00", "0.04µs"},
		{"allow-redis", "allow", "16", "3000", "7", "8000", "0.50", "0.40–0.75", "0.08µs", "2.00"},
	}
	for i, w := range want {
		got := cells[i+1]
		if strings.Join(got[:len(w)], "|") != strings.Join(w, "|") {
			t.Errorf("row %d = %q, want it to start %q", i, got, w)
		}
	}
	if r := cells[2]; r[len(r)-2] != "130µs" || r[len(r)-1] != "+30.0µs" {
		t.Errorf("CPU columns %q, want 130µs +30.0µs", r[len(r)-2:])
	}
	if got := rep.failed(); got != 7 {
		t.Errorf("failed() = %d, want the 7 errors of round 2", got)
	}
	var b bytes.Buffer
	rep.print(&b)
	for _, s := range []string{
		"3 round(s)", roundsNote, ratioNote,
		"allow-redis, 16 in flight, round 2: 7 of 1000 requests failed",
		"failures by gRPC code: Unavailable 7",
		"tfgate_checks_shed_total 6 over all rounds",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, b.String())
		}
	}
}

// TestRunInterleavesRounds: round 1 of every scenario, then round 2, at
// each in-flight count in turn; each row totals its rounds.
func TestRunInterleavesRounds(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-duration", "1s", "-max-requests", "50", "-warmup", "0",
		"-rounds", "2", "-concurrency", "1,2", "-scenarios", "noop,deny-anonymous"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	var order []string
	for line := range strings.Lines(errOut.String()) {
		if f := strings.Fields(line); len(f) > 0 {
			switch {
			case f[0] == "--":
				order = append(order, strings.Join(f[1:], " "))
			case f[0] == "noop" || f[0] == "deny-anonymous":
				order = append(order, f[0])
			}
		}
	}
	want := []string{
		"1 in flight, round 1 of 2", "noop", "deny-anonymous", "1 in flight, round 2 of 2", "noop", "deny-anonymous",
		"2 in flight, round 1 of 2", "noop", "deny-anonymous", "2 in flight, round 2 of 2", "noop", "deny-anonymous",
	}
	if strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Errorf("measured in the order:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	rows := 0
	for line := range strings.Lines(out.String()) {
		f := strings.Fields(line)
		if len(f) > 5 && (f[0] == "noop" || f[0] == "deny-anonymous") {
			rows++
			requests := f[3] // after "scenario allow in-flight"
			if f[0] == "deny-anonymous" {
				requests = f[4] // after "scenario deny 401 in-flight"
			}
			if requests != "100" {
				t.Errorf("requests in %q, want 100: two rounds of -max-requests 50", line)
			}
		}
	}
	if rows != 4 {
		t.Errorf("%d rows, want 4 (two scenarios at two in-flight counts):\n%s", rows, out.String())
	}
	if !strings.Contains(out.String(), "2 round(s)") {
		t.Errorf("the header does not say how many rounds:\n%s", out.String())
	}
}
