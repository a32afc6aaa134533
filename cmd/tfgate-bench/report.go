package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/internal/loadgen"
)

// percentiles are the latency columns, each followed by its ratio.
var percentiles = []struct {
	name string
	q    float64
}{{"p50", 0.50}, {"p99", 0.99}, {"p99.9", 0.999}}

// ratioNote is how to read the table; printed under it.
const ratioNote = "ratios: req/s ×noop = scenario req/s ÷ noop req/s (below 1 = slower); " +
	"pNN ×noop = scenario pNN ÷ noop pNN (above 1 = slower)"

// row is one measured scenario.
type row struct {
	name        string
	concurrency int
	expect      string
	result      loadgen.Result
	shed        float64
}

// report is the table and the notes under it.
type report struct {
	cfg         loadgen.MeasureConfig
	concurrency []int
	rows        []row
	notes       []string
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

// failed counts failed requests over every row.
func (r *report) failed() uint64 {
	var n uint64
	for _, row := range r.rows {
		n += row.result.Errors
	}
	return n
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
	fmt.Fprintf(w, "\ntfgate ext_authz Check over loopback gRPC: %s in flight on %d connection(s), %v per scenario%s after a %v warm-up; %s %s/%s, GOMAXPROCS %d\n\n",
		strings.Join(conc, ", "), max(r.cfg.Conns, 1), r.cfg.Duration, bound, r.cfg.Warmup,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	writeTable(w, r.cells())
	fmt.Fprintln(w)
	fmt.Fprintln(w, ratioNote)
	fmt.Fprintln(w, "CPU/Check = the process's CPU time (user+system, /proc/self/stat) during the run ÷ requests: client, gRPC and server together;")
	fmt.Fprintln(w, "  -noop = CPU/Check minus noop's at the same in-flight count: what tfgate's Check itself costs")
	fmt.Fprintln(w, "client and servers share this process and its CPUs, so the ratios understate tfgate's own cost")
	if r.baseline(r.cfg.Concurrency) == nil && (len(r.rows) == 0 || r.baseline(r.rows[0].concurrency) == nil) {
		fmt.Fprintln(w, "no ratios: the noop baseline was not among -scenarios")
	}
	for _, row := range r.rows {
		if row.result.FirstErr != nil {
			fmt.Fprintf(w, "%s: %d of %d requests failed, e.g.: %v\n", row.name, row.result.Errors, row.result.Requests, row.result.FirstErr)
			fmt.Fprintf(w, "%s: failures by gRPC code: %s (RESOURCE_EXHAUSTED: shed under overload; UNAVAILABLE: could not decide, e.g. Redis budget expired)\n",
				row.name, byCode(row.result.ErrorsByCode))
		}
		if row.shed > 0 {
			fmt.Fprintf(w, "%s: tfgate_checks_shed_total %.0f (warm-up included)\n", row.name, row.shed)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintln(w, n)
	}
}

// cells returns the table, header first.
func (r *report) cells() [][]string {
	head := []string{"scenario", "outcome", "in flight", "requests", "errors", "req/s", "×noop"}
	for _, p := range percentiles {
		head = append(head, p.name, "×noop")
	}
	head = append(head, "CPU/Check", "-noop")
	out := [][]string{head}
	for _, row := range r.rows {
		res := row.result
		base := r.baseline(row.concurrency)
		line := []string{
			row.name, row.expect, strconv.Itoa(row.concurrency),
			strconv.FormatUint(res.Requests, 10), strconv.FormatUint(res.Errors, 10),
			strconv.FormatFloat(res.RPS(), 'f', 0, 64),
		}
		if base != nil {
			line = append(line, ratio(res.RPS(), base.result.RPS()))
		} else {
			line = append(line, "-")
		}
		for _, p := range percentiles {
			d := res.Latency.Quantile(p.q)
			line = append(line, formatLatency(d))
			if base != nil {
				line = append(line, ratio(d.Seconds(), base.result.Latency.Quantile(p.q).Seconds()))
			} else {
				line = append(line, "-")
			}
		}
		cpu := res.CPUPerRequest()
		line = append(line, formatLatency(cpu))
		if base != nil && cpu > 0 && base.result.CPUPerRequest() > 0 {
			line = append(line, formatSigned(cpu-base.result.CPUPerRequest()))
		} else {
			line = append(line, "-")
		}
		out = append(out, line)
	}
	return out
}

func ratio(v, base float64) string {
	if base <= 0 {
		return "-"
	}
	return strconv.FormatFloat(v/base, 'f', 2, 64)
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
