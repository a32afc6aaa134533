package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tfgate/tfgate/envoy"
)

// LimitsConfig bounds what clients of tfgate's two listeners can hold.
// Slow or idle HTTP clients are cut off by the timeouts; the HTTP listener
// accepts at most HTTPMaxConns connections, sized so that it can never use
// the descriptors the gRPC listener needs; the gRPC listener decides at
// most MaxChecksInFlight Checks at once and sheds the rest
// (RESOURCE_EXHAUSTED, counted in tfgate_checks_shed_total) once the queue
// is full or a Check has waited QueueTimeout.
type LimitsConfig struct {
	// HTTPReadHeaderTimeout bounds reading a request's headers. Default: 10s.
	HTTPReadHeaderTimeout time.Duration `yaml:"http_read_header_timeout"`
	// HTTPReadTimeout bounds reading a whole request, body included, so a
	// body sent a byte at a time is cut off. Default: 30s.
	HTTPReadTimeout time.Duration `yaml:"http_read_timeout"`
	// HTTPWriteTimeout bounds writing a response. Default: 30s.
	HTTPWriteTimeout time.Duration `yaml:"http_write_timeout"`
	// HTTPIdleTimeout closes a keep-alive connection idle this long.
	// Default: 60s.
	HTTPIdleTimeout time.Duration `yaml:"http_idle_timeout"`
	// HTTPMaxHeaderBytes bounds a request's header block. Default: 65536.
	HTTPMaxHeaderBytes int `yaml:"http_max_header_bytes"`
	// HTTPMaxConns is the most connections the HTTP listener holds; more
	// wait in the kernel's accept queue. It is lowered at start to half the
	// process's descriptor limit, so HTTP clients can never take the
	// descriptors of the gRPC listener. Default: 1024.
	HTTPMaxConns int `yaml:"http_max_conns"`
	// MaxChecksInFlight is how many Checks are decided at once; 0 means 8
	// per CPU. Default: 0.
	MaxChecksInFlight int `yaml:"max_checks_in_flight"`
	// MaxQueuedChecks is how many Checks may wait for a slot; 0 means 16
	// times MaxChecksInFlight. Default: 0.
	MaxQueuedChecks int `yaml:"max_queued_checks"`
	// QueueTimeout is the longest a Check waits for a slot before it is
	// shed. The Redis budget (sessions.redis.timeout) starts only once a
	// Check has its slot. Default: 100ms.
	QueueTimeout time.Duration `yaml:"queue_timeout"`
	// MaxInFlightBytes bounds the CheckRequest bytes held at once (queued
	// or being decided); a Check that does not fit is shed. At least
	// listen.max_request_bytes. Default: 268435456 (256 MiB).
	MaxInFlightBytes int64 `yaml:"max_in_flight_bytes"`
	// GRPCMaxConcurrentStreams bounds the Checks in flight on one gRPC
	// connection. Default: 1024.
	GRPCMaxConcurrentStreams uint32 `yaml:"grpc_max_concurrent_streams"`
	// GRPCKeepaliveMinTime is the shortest ping interval a gRPC client may
	// use; Envoy's connection_keepalive interval must not be shorter.
	// Default: 10s.
	GRPCKeepaliveMinTime time.Duration `yaml:"grpc_keepalive_min_time"`
}

func defaultLimits() LimitsConfig {
	return LimitsConfig{
		HTTPReadHeaderTimeout: 10 * time.Second, HTTPReadTimeout: 30 * time.Second,
		HTTPWriteTimeout: 30 * time.Second, HTTPIdleTimeout: 60 * time.Second,
		HTTPMaxHeaderBytes: 64 << 10, HTTPMaxConns: 1024,
		QueueTimeout: 100 * time.Millisecond, MaxInFlightBytes: 256 << 20,
		GRPCMaxConcurrentStreams: 1024, GRPCKeepaliveMinTime: 10 * time.Second,
	}
}

func (l LimitsConfig) validate(bad func(string, string, ...any), maxRequestBytes int) {
	for _, d := range []struct {
		path string
		v    time.Duration
	}{
		{"listen.limits.http_read_header_timeout", l.HTTPReadHeaderTimeout},
		{"listen.limits.http_read_timeout", l.HTTPReadTimeout},
		{"listen.limits.http_write_timeout", l.HTTPWriteTimeout},
		{"listen.limits.http_idle_timeout", l.HTTPIdleTimeout},
		{"listen.limits.queue_timeout", l.QueueTimeout},
		{"listen.limits.grpc_keepalive_min_time", l.GRPCKeepaliveMinTime},
	} {
		if d.v <= 0 {
			bad(d.path, "must be positive")
		}
	}
	if l.HTTPMaxHeaderBytes < 4096 {
		bad("listen.limits.http_max_header_bytes", "%d is too small; use at least 4096", l.HTTPMaxHeaderBytes)
	}
	if l.HTTPMaxConns < 1 {
		bad("listen.limits.http_max_conns", "must be at least 1")
	}
	if l.MaxChecksInFlight < 0 || l.MaxQueuedChecks < 0 {
		bad("listen.limits", "max_checks_in_flight and max_queued_checks must not be negative (0 is the default)")
	}
	if l.MaxInFlightBytes < int64(maxRequestBytes) {
		bad("listen.limits.max_in_flight_bytes", "%d is below listen.max_request_bytes (%d): such a request could never be decided", l.MaxInFlightBytes, maxRequestBytes)
	}
	if l.GRPCMaxConcurrentStreams < 1 {
		bad("listen.limits.grpc_max_concurrent_streams", "must be at least 1")
	}
}

// envoyLimits are the Check server's limits.
func (l LimitsConfig) envoyLimits() envoy.Limits {
	return envoy.Limits{
		MaxInFlight: l.MaxChecksInFlight, MaxQueue: l.MaxQueuedChecks, QueueTimeout: l.QueueTimeout,
		MaxInFlightBytes: l.MaxInFlightBytes, MaxConcurrentStreams: l.GRPCMaxConcurrentStreams,
		KeepaliveMinTime: l.GRPCKeepaliveMinTime,
	}
}

// httpServer is tfgate's HTTP server with every timeout and size bound set.
func (l LimitsConfig) httpServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.HTTPReadHeaderTimeout,
		ReadTimeout:       l.HTTPReadTimeout,
		WriteTimeout:      l.HTTPWriteTimeout,
		IdleTimeout:       l.HTTPIdleTimeout,
		MaxHeaderBytes:    l.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// httpConnCap is HTTPMaxConns, lowered to half of the descriptor limit
// when that is smaller, so that slow HTTP clients cannot take the
// descriptors of the gRPC listener, Redis and the decision log.
func (l LimitsConfig) httpConnCap(nofile uint64) int {
	if nofile > 0 && uint64(l.HTTPMaxConns) > nofile/2 {
		return max(int(nofile/2), 1)
	}
	return l.HTTPMaxConns
}

// limitListener accepts at most cap connections at once; Accept waits
// while that many are open, leaving the rest in the kernel's queue.
// (golang.org/x/net/netutil.LimitListener, without the dependency.)
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit (the Go
// runtime does so too on most systems; this makes it explicit and tells
// the caller the result) and returns the soft limit now in force, or 0
// when it is unknown.
func raiseNoFile() (uint64, error) {
	soft, hard, err := getNoFile()
	if err != nil {
		return 0, err
	}
	if soft < hard {
		if err := setNoFile(hard, hard); err != nil {
			return soft, fmt.Errorf("raising RLIMIT_NOFILE from %d to %d: %w", soft, hard, err)
		}
		soft = hard
	}
	return soft, nil
}
