package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Caller makes one request. worker is the calling goroutine's index in
// [0, Concurrency) and seq the request's sequence number in the run; a
// Caller uses them to pick a connection and a request. A non-nil error
// counts the request as failed, whether the RPC failed or the answer was
// the wrong one.
type Caller func(ctx context.Context, worker int, seq uint64) error

// RunConfig bounds one run of the load loop.
type RunConfig struct {
	// Concurrency is the number of requests kept in flight (one goroutine
	// each, closed loop: a goroutine sends its next request when the
	// previous one is answered). default: 1.
	Concurrency int
	// Duration bounds the run. Required: a run always ends by itself.
	Duration time.Duration
	// MaxRequests, when positive, also ends the run once this many requests
	// have been sent. default: 0 (only Duration bounds the run).
	MaxRequests uint64
}

// Result is what one run measured.
type Result struct {
	// Requests counts completed requests, failed ones included. Requests
	// cut short by the end of the run are not counted.
	Requests uint64
	// Errors counts failed requests.
	Errors uint64
	// FirstErr is one failure (the first of the lowest-numbered worker that
	// had any), for the report.
	FirstErr error
	// Elapsed is the wall time from the first request to the last answer.
	Elapsed time.Duration
	// Latency holds the latency of every successful request.
	Latency *Histogram
	// ErrorsByCode splits Errors by gRPC status code: RESOURCE_EXHAUSTED
	// is a Check tfgate shed under overload, UNAVAILABLE one it could not
	// decide (e.g. the Redis budget expired), UNKNOWN a wrong answer.
	ErrorsByCode map[codes.Code]uint64
	// CPU is the CPU time (user + system) the whole process used during
	// the measured run: client, server and Go runtime together, from
	// /proc/self/stat (10ms resolution). 0 where /proc is not available.
	CPU time.Duration
}

// CPUPerRequest returns CPU divided by Requests, or 0 when unknown.
func (r Result) CPUPerRequest() time.Duration {
	if r.CPU <= 0 || r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// RPS returns completed requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run drives call from cfg.Concurrency goroutines until cfg.Duration has
// passed, cfg.MaxRequests have been sent, or ctx is done, and returns what
// it measured. Each goroutine records latencies in its own Histogram, so
// the loop shares nothing but two atomic counters.
func Run(ctx context.Context, call Caller, cfg RunConfig) (Result, error) {
	if cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: Run needs a positive Duration")
	}
	workers := max(cfg.Concurrency, 1)
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var (
		seq     atomic.Uint64
		wg      sync.WaitGroup
		results = make([]workerResult, workers)
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() { results[w].loop(ctx, call, w, &seq, cfg.MaxRequests) })
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), Latency: &Histogram{}, ErrorsByCode: map[codes.Code]uint64{}}
	for i := range results {
		wr := &results[i]
		res.Requests += wr.requests
		res.Errors += wr.errors
		if res.FirstErr == nil {
			res.FirstErr = wr.firstErr
		}
		res.Latency.Merge(&wr.latency)
		for c, n := range wr.byCode {
			res.ErrorsByCode[c] += n
		}
	}
	return res, nil
}

// workerResult is one goroutine's share of a Result.
type workerResult struct {
	requests, errors uint64
	firstErr         error
	latency          Histogram
	byCode           map[codes.Code]uint64
}

func (wr *workerResult) loop(ctx context.Context, call Caller, w int, seq *atomic.Uint64, maxRequests uint64) {
	for ctx.Err() == nil {
		n := seq.Add(1)
		if maxRequests > 0 && n > maxRequests {
			return
		}
		t0 := time.Now()
		err := call(ctx, w, n-1)
		d := time.Since(t0)
		if err != nil && ended(ctx) {
			// Cut short by the end of the run, not a failure of the
			// server: neither counted nor timed.
			return
		}
		wr.requests++
		if err != nil {
			wr.errors++
			if wr.byCode == nil {
				wr.byCode = map[codes.Code]uint64{}
			}
			wr.byCode[status.Code(err)]++
			if wr.firstErr == nil {
				wr.firstErr = err
			}
			continue
		}
		wr.latency.Record(d)
	}
}

// ended reports whether the run is over. A request's own context can
// expire at the run's deadline a moment before ctx itself reports it (each
// has its own timer), so the deadline is checked too.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
