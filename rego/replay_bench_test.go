package rego

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// logGenerator produces a decision log of n lines on the fly (so the
// benchmark's memory is the replay's own): 200 users in 4 groups calling
// 10 models with 3 APIs, as a busy day's log would repeat itself.
type logGenerator struct {
	n, i int
	buf  []byte
}

func (g *logGenerator) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i < g.n {
		i := g.i
		g.i++
		groups := [...]string{"ml-engineers", "data-scientists", "sales", "ml-engineers\",\"admins"}[i%4]
		api := [...]string{"predict", "model_metadata", "classify"}[i%3]
		g.buf = fmt.Appendf(g.buf, `{"time":"2026-12-05T08:00:00Z","decision_id":"%032x","allow":%v,"reason":"r","subject":"user%d@example.com","email":"user%d@example.com","groups":["%s"],"idp":"https://idp.example.com","auth":"bearer","expires_at":"2026-12-05T09:00:00Z","session":"0011223344556677","method":"POST","path":"/v1/models/m%d:%s","host":"tfs","protocol":"rest","targets":[{"api":"%s","model":"m%d","version":null,"label":null,"signature":""}],"policy_revision":"r1","latency_us":100}`+"\n",
			i, i%5 != 0, i%200, i%200, groups, i%10, api, api, i%10)
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

// BenchmarkReplay re-decides b.N generated decision-log lines with the
// default policy; run with -benchtime 1000000x for the million-line figure.
// It reports lines/s and the heap in use at the end (bounded memory: it
// does not grow with the log).
func BenchmarkReplay(b *testing.B) {
	for _, cache := range []int{0, -1} {
		b.Run(fmt.Sprintf("decision_cache=%v", cache >= 0), func(b *testing.B) {
			p, err := New(context.Background(), Config{DecisionCacheEntries: cache})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			rep, err := authz.Replay(context.Background(), &logGenerator{n: b.N}, p, authz.ReplayOptions{})
			if err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			if rep.Lines != int64(b.N) || rep.Replayed != int64(b.N) || rep.Errors+rep.Malformed != 0 {
				b.Fatalf("report %+v", rep)
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-heap")
			// The machines are shared: CPU time per line says what a
			// replay costs whatever else runs.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/line")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
