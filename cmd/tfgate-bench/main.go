// Command tfgate-bench measures tfgate's ext_authz Check over loopback gRPC
// against a no-op Authorization server, scenario by scenario, and prints
// throughput and latency percentiles with their ratios to the no-op
// baseline. Every server runs in this process on 127.0.0.1; the Redis
// scenario starts its own redis-server unless -redis names one.
//
// At each in-flight count it runs -rounds rounds, one after the other; a
// round measures every scenario once, in the -scenarios order, the noop
// baseline included, so a scenario and the baseline it is divided by are
// measured minutes apart at most. The table prints, for each scenario and
// in-flight count, the median over rounds of req/s, the percentiles and
// CPU per Check, and each ratio as the median over rounds of that round's
// scenario ÷ that round's noop, with the lowest and highest per-round req/s
// ratio beside it to show the noise.
//
// Usage:
//
//	tfgate-bench [-duration 5s] [-rounds 3] [-concurrency 1,16,64] [-warmup 1s] [-scenarios noop,allow-memory] [-redis ADDR] [-max-requests N]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tfgate/tfgate/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tfgate-bench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	measure     loadgen.MeasureConfig
	concurrency []int // measure.Concurrency takes each in turn
	rounds      int   // rounds at each in-flight count
	scenarios   []string
	redis       string
	redisTO     time.Duration
	cpuProfile  string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var (
		o         options
		scenarios string
		conc      string
		fs        = flag.NewFlagSet("tfgate-bench", flag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.measure.Duration, "duration", 5*time.Second, "how long to measure each scenario")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds at each in-flight count; a round measures every scenario once, noop included, and the table shows medians over rounds")
	fs.StringVar(&conc, "concurrency", "1,16,64", "Check RPCs kept in flight; a comma-separated list measures every scenario at each")
	fs.DurationVar(&o.measure.Warmup, "warmup", time.Second, "how long to drive each scenario before measuring (0: no warm-up)")
	fs.Uint64Var(&o.measure.MaxRequests, "max-requests", 0, "also stop each warm-up and measurement after this many requests (0: no bound)")
	fs.IntVar(&o.measure.Conns, "conns", 1, "gRPC connections the requests are spread over (Envoy opens one per worker thread)")
	fs.StringVar(&scenarios, "scenarios", "",
		"comma-separated scenarios to run, in that order (default: all, as listed):\n"+describeScenarios())
	fs.DurationVar(&o.redisTO, "redis-timeout", 0, "Redis budget of one Check in the Redis scenarios (extauthz's default is 50ms; 0: the 500ms Check timeout)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (client and servers share the process; read it with go tool pprof)")
	fs.StringVar(&o.redis, "redis", "", "address of an existing Redis for allow-redis and allow-redis-cached (default: start redis-server on a free loopback port)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tfgate-bench [flags]\n\n"+
			"Drives tfgate's ext_authz Check over loopback gRPC and compares it with a no-op server.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	for f := range strings.SplitSeq(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return o, fmt.Errorf("-concurrency %q: each must be an integer, at least 1", conc)
		}
		o.concurrency = append(o.concurrency, n)
	}
	o.measure.Concurrency = o.concurrency[0]
	if o.measure.Duration <= 0 || o.measure.Warmup < 0 || o.measure.Conns < 1 {
		return o, errors.New("-duration must be positive, -warmup not negative, -conns at least 1")
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds %d: must be at least 1", o.rounds)
	}
	if scenarios == "" {
		o.scenarios = loadgen.Scenarios()
		return o, nil
	}
	for name := range strings.SplitSeq(scenarios, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if loadgen.Describe(name) == "" {
			return o, fmt.Errorf("unknown scenario %q (have %s)", name, strings.Join(loadgen.Scenarios(), ", "))
		}
		o.scenarios = append(o.scenarios, name)
	}
	if len(o.scenarios) == 0 {
		return o, errors.New("-scenarios names no scenario")
	}
	return o, nil
}

func describeScenarios() string {
	var b strings.Builder
	for _, name := range loadgen.Scenarios() {
		fmt.Fprintf(&b, "  %-18s %s\n", name, loadgen.Describe(name))
	}
	return strings.TrimRight(b.String(), "\n")
}

// run measures every scenario in turn, -rounds times at each in-flight
// count, and prints the table. It fails fast when a scenario's first answer
// is not the expected one, and fails after the table when any measured
// request of any round failed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	env := &environment{redisAddr: o.redis, redisTimeout: o.redisTO, stderr: stderr}
	defer env.close()

	rep := report{cfg: o.measure, concurrency: o.concurrency, rounds: o.rounds}
	skipped := map[string]bool{}
	for _, c := range o.concurrency {
		cfg := o.measure
		cfg.Concurrency = c
		// Rounds are interleaved: round 1 of every scenario, then round
		// 2, ..., so that drift in the machine's load over the minutes of
		// a run reaches the baseline and the scenarios alike.
		for round := range o.rounds {
			fmt.Fprintf(stderr, "-- %d in flight, round %d of %d\n", c, round+1, o.rounds)
			for _, name := range o.scenarios {
				if skipped[name] {
					continue
				}
				res, why, err := env.measure(ctx, name, cfg)
				if ctx.Err() != nil {
					return errors.New("interrupted")
				}
				if err != nil {
					return err
				}
				if why != "" {
					skipped[name] = true
					rep.notes = append(rep.notes, name+": skipped: "+why)
					continue
				}
				rep.add(name, c, res)
			}
		}
	}
	rep.print(stdout)
	if failed := rep.failed(); failed > 0 {
		return fmt.Errorf("%d measured requests failed; the figures above are suspect", failed)
	}
	return nil
}
