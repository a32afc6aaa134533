package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tfgate/tfgate/internal/loadgen"
)

// environment holds what scenarios share: the Redis the tool started, if
// it started one.
type environment struct {
	redisAddr    string
	redisTimeout time.Duration
	redis        *loadgen.RedisServer
	stderr       io.Writer
}

// measured is one scenario's result and the outcome it was checked for.
type measured struct {
	loadgen.Result
	expect string
	shed   float64
}

// measure starts the scenario's server, measures it and stops it. A
// non-empty skipped says why the scenario could not run on this machine.
func (e *environment) measure(ctx context.Context, name string, cfg loadgen.MeasureConfig) (res measured, skipped string, err error) {
	opts := loadgen.Options{RedisTimeout: e.redisTimeout}
	if loadgen.NeedsRedis(name) {
		addr, err := e.redisFor(ctx)
		if errors.Is(err, loadgen.ErrNoRedisServer) {
			fmt.Fprintf(e.stderr, "%s: skipped: %v\n", name, err)
			return measured{}, err.Error(), nil
		}
		if err != nil {
			return measured{}, "", err
		}
		opts.RedisAddr = addr
	}
	srv, err := loadgen.Start(ctx, name, opts)
	if err != nil {
		return measured{}, "", fmt.Errorf("%s: %w", name, err)
	}
	defer srv.Close()
	fmt.Fprintf(e.stderr, "%-18s expect %-8s warm-up %v, measuring %v ...\n", name, srv.Expect, cfg.Warmup, cfg.Duration)
	r, err := loadgen.Measure(ctx, srv, cfg)
	if err != nil {
		return measured{}, "", err
	}
	return measured{Result: r, expect: srv.Expect.String(), shed: srv.Shed()}, "", nil
}

// redisFor returns the -redis address, or starts redis-server once.
func (e *environment) redisFor(ctx context.Context) (string, error) {
	if e.redisAddr != "" {
		return e.redisAddr, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	r, err := loadgen.StartRedis()
	if err != nil {
		return "", err
	}
	e.redis, e.redisAddr = r, r.Addr
	fmt.Fprintf(e.stderr, "started redis-server on %s (killed at exit)\n", r.Addr)
	return r.Addr, nil
}

func (e *environment) close() {
	if e.redis != nil {
		e.redis.Close()
	}
}
