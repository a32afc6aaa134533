package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/internal/loadgen"
)

// percentiles are the latency columns, each followed by its ratio.
var percentiles = [...]struct {
	name string
	q    float64
}{{"p50", 0.50}, {"p99", 0.99}, {"p99.9", 0.999}}

// ratioNote is how to read the table; printed under it.
const ratioNote = "ratios: req/s ×noop = scenario req/s ÷ noop req/s (below 1 = slower); " +
	"pNN ×noop = scenario pNN ÷ noop pNN (above 1 = slower)"

// roundsNote says how rounds become one row; printed under the table.
const roundsNote = "each figure is the median over rounds (of two middle rounds, their mean); each ratio is the median over rounds " +
	"of the per-round ratio, scenario ÷ the noop measured in the same round;\n" +
	"  ×noop min–max = the lowest and highest per-round req/s ratio (the noise); requests and errors are totals over rounds"

// row is one scenario at one in-flight count: a result per round.
type row struct {
	name        string
	concurrency int
	expect      string
	rounds      []loadgen.Result
	shed        float64 // over every round
}

// report is the table and the notes under it.
type report struct {
	cfg         loadgen.MeasureConfig
	concurrency []int
	rounds      int
	rows        []row
	notes       []string
}

// add appends one round's result to its row, making the row on its first
// round. Rows keep the order of their first round.
func (r *report) add(name string, concurrency int, m measured) {
	for i := range r.rows {
		if rw := &r.rows[i]; rw.name == name && rw.concurrency == concurrency {
			rw.rounds = append(rw.rounds, m.Result)
			rw.shed += m.shed
			return
		}
	}
	r.rows = append(r.rows, row{name: name, concurrency: concurrency, expect: m.expect,
		rounds: []loadgen.Result{m.Result}, shed: m.shed})
}

// baseline is the noop row measured at concurrency c.
func (r *report) baseline(c int) *row {
	for i := range r.rows {
		if r.rows[i].name == loadgen.Noop && r.rows[i].concurrency == c {
			return &r.rows[i]
		}
	}
	return nil
}

// failed counts failed requests over every row and round.
func (r *report) failed() uint64 {
	var n uint64
	for _, row := range r.rows {
		n += row.errors()
	}
	return n
}

func (rw *row) requests() uint64 {
	var n uint64
	for _, res := range rw.rounds {
		n += res.Requests
	}
	return n
}

func (rw *row) errors() uint64 {
	var n uint64
	for _, res := range rw.rounds {
		n += res.Errors
	}
	return n
}

// summary is one row of the table: medians over rounds. A ratio or a
// difference is NaN where there is no baseline to divide by.
type summary struct {
	rps      float64
	rpsRatio float64
	// rpsLo and rpsHi are the lowest and highest per-round req/s ratio.
	rpsLo, rpsHi float64
	latency      [len(percentiles)]time.Duration
	latRatio     [len(percentiles)]float64
	// cpu is 0 where no round could measure it (/proc missing, or a run
	// shorter than a clock tick).
	cpu            time.Duration
	cpuOverNoop    time.Duration
	hasCPUOverNoop bool
}

// summarize reduces a row's rounds to medians. base holds the noop's
// rounds at the same in-flight count (nil: no baseline); round i of the row
// is divided by round i of base, the noop measured in the same round.
func summarize(rounds, base []loadgen.Result) summary {
	nan := math.NaN()
	s := summary{rpsRatio: nan, rpsLo: nan, rpsHi: nan}
	var rps, ratios, cpus, cpuDiffs []float64
	var lats, latRatios [len(percentiles)][]float64
	for i, res := range rounds {
		var b *loadgen.Result
		if i < len(base) {
			b = &base[i]
		}
		rps = append(rps, res.RPS())
		if b != nil && b.RPS() > 0 {
			ratios = append(ratios, res.RPS()/b.RPS())
		}
		for j, p := range percentiles {
			d := quantile(res, p.q)
			lats[j] = append(lats[j], float64(d))
			if b != nil && d > 0 && quantile(*b, p.q) > 0 {
				latRatios[j] = append(latRatios[j], float64(d)/float64(quantile(*b, p.q)))
			}
		}
		if cpu := res.CPUPerRequest(); cpu > 0 {
			cpus = append(cpus, float64(cpu))
			if b != nil && b.CPUPerRequest() > 0 {
				cpuDiffs = append(cpuDiffs, float64(cpu-b.CPUPerRequest()))
			}
		}
	}
	s.rps = median(rps)
	if len(ratios) > 0 {
		s.rpsRatio = median(ratios)
		s.rpsLo, s.rpsHi = slices.Min(ratios), slices.Max(ratios)
	}
	for j := range percentiles {
		s.latency[j] = time.Duration(math.Round(median(lats[j])))
		s.latRatio[j] = nan
		if len(latRatios[j]) > 0 {
			s.latRatio[j] = median(latRatios[j])
		}
	}
	if len(cpus) > 0 {
		s.cpu = time.Duration(math.Round(median(cpus)))
	}
	if len(cpuDiffs) > 0 {
		s.cpuOverNoop, s.hasCPUOverNoop = time.Duration(math.Round(median(cpuDiffs))), true
	}
	return s
}

// quantile is res's latency quantile, 0 when nothing succeeded.
func quantile(res loadgen.Result, q float64) time.Duration {
	if res.Latency == nil {
		return 0
	}
	return res.Latency.Quantile(q)
}

// median returns the middle value of xs, or the mean of the two middle
// values when len(xs) is even; NaN when xs is empty. xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func (r *report) print(w io.Writer) {
	bound := ""
	if r.cfg.MaxRequests > 0 {
		bound = fmt.Sprintf(" (at most %d requests)", r.cfg.MaxRequests)
	}
	conc := make([]string, len(r.concurrency))
	for i, c := range r.concurrency {
		conc[i] = strconv.Itoa(c)
	}
	fmt.Fprintf(w, "\ntfgate ext_authz Check over loopback gRPC: %s in flight on %d connection(s), %v per scenario%s after a %v warm-up, "+
		"%d round(s) of every scenario at each in-flight count; %s %s/%s, GOMAXPROCS %d\n\n",
		strings.Join(conc, ", "), max(r.cfg.Conns, 1), r.cfg.Duration, bound, r.cfg.Warmup, max(r.rounds, 1),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	writeTable(w, r.cells())
	fmt.Fprintln(w)
	fmt.Fprintln(w, roundsNote)
	fmt.Fprintln(w, ratioNote)
	fmt.Fprintln(w, "CPU/Check = the process's CPU time (user+system, /proc/self/stat) during the run ÷ requests: client, gRPC and server together;")
	fmt.Fprintln(w, "  -noop = median over rounds of CPU/Check minus the same round's noop CPU/Check: what tfgate's Check itself costs")
	fmt.Fprintln(w, "client and servers share this process and its CPUs, so the ratios understate tfgate's own cost")
	if r.baseline(r.cfg.Concurrency) == nil && (len(r.rows) == 0 || r.baseline(r.rows[0].concurrency) == nil) {
		fmt.Fprintln(w, "no ratios: the noop baseline was not among -scenarios")
	}
	for _, row := range r.rows {
		for i, res := range row.rounds {
			if res.FirstErr == nil {
				continue
			}
			fmt.Fprintf(w, "%s, %d in flight, round %d: %d of %d requests failed, e.g.: %v\n",
				row.name, row.concurrency, i+1, res.Errors, res.Requests, res.FirstErr)
			fmt.Fprintf(w, "%s, %d in flight, round %d: failures by gRPC code: %s (RESOURCE_EXHAUSTED: shed under overload; UNAVAILABLE: could not decide, e.g. Redis budget expired)\n",
				row.name, row.concurrency, i+1, byCode(res.ErrorsByCode))
		}
		if row.shed > 0 {
			fmt.Fprintf(w, "%s, %d in flight: tfgate_checks_shed_total %.0f over all rounds (warm-ups included)\n", row.name, row.concurrency, row.shed)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintln(w, n)
	}
}

// cells returns the table, header first.
func (r *report) cells() [][]string {
	head := []string{"scenario", "outcome", "in flight", "requests", "errors", "req/s", "×noop", "min–max"}
	for _, p := range percentiles {
		head = append(head, p.name, "×noop")
	}
	head = append(head, "CPU/Check", "-noop")
	out := [][]string{head}
	for _, row := range r.rows {
		var base []loadgen.Result
		if b := r.baseline(row.concurrency); b != nil {
			base = b.rounds
		}
		s := summarize(row.rounds, base)
		line := []string{
			row.name, row.expect, strconv.Itoa(row.concurrency),
			strconv.FormatUint(row.requests(), 10), strconv.FormatUint(row.errors(), 10),
			strconv.FormatFloat(s.rps, 'f', 0, 64),
			formatRatio(s.rpsRatio),
		}
		if math.IsNaN(s.rpsLo) {
			line = append(line, "-")
		} else {
			line = append(line, formatRatio(s.rpsLo)+"–"+formatRatio(s.rpsHi))
		}
		for j := range percentiles {
			line = append(line, formatLatency(s.latency[j]), formatRatio(s.latRatio[j]))
		}
		line = append(line, formatLatency(s.cpu))
		if s.hasCPUOverNoop {
			line = append(line, formatSigned(s.cpuOverNoop))
		} else {
			line = append(line, "-")
		}
		out = append(out, line)
	}
	return out
}

// formatRatio prints a ratio with two decimals, or "-" for NaN (no
// baseline).
func formatRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// formatLatency prints d with three significant digits in µs or ms.
func formatLatency(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case d == 0:
		return "-"
	case us < 10:
		return strconv.FormatFloat(us, 'f', 2, 64) + "µs"
	case us < 100:
		return strconv.FormatFloat(us, 'f', 1, 64) + "µs"
	case us < 1000:
		return strconv.FormatFloat(us, 'f', 0, 64) + "µs"
	case us < 10000:
		return strconv.FormatFloat(us/1000, 'f', 2, 64) + "ms"
	case us < 100000:
		return strconv.FormatFloat(us/1000, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(us/1000, 'f', 0, 64) + "ms"
}

// formatSigned prints d as formatLatency does, with its sign.
func formatSigned(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + formatLatency(-d)
	case d == 0:
		return "0"
	}
	return "+" + formatLatency(d)
}

// writeTable prints cells with the first two columns left-aligned and the
// numbers right-aligned, two spaces apart. Widths count runes, so "×" and
// "µ" take one column.
func writeTable(w io.Writer, cells [][]string) {
	var widths []int
	for _, line := range cells {
		for i, c := range line {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, line := range cells {
		var b strings.Builder
		for i, c := range line {
			pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < 2 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func byCode(m map[codes.Code]uint64) string {
	cs := make([]codes.Code, 0, len(m))
	for c := range m {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d", c, m[c])
	}
	return strings.Join(parts, ", ")
}
