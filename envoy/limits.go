package envoy

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// This file bounds the Check path under load: how many Checks are decided
// at once (the rest wait in a bounded queue, then are shed), how many bytes
// of CheckRequests are held at once, and the gRPC transport's own limits.
//
// A shed Check is RESOURCE_EXHAUSTED, which Envoy (failure_mode_allow:
// false) denies like any failed Check; unlike "could not decide" it is
// counted in tfgate_checks_shed_total and logged as overload. Shedding at
// the door is what keeps the admitted Checks fast: their Redis budget
// starts only once they are admitted, so a healthy Redis is never reported
// as failed because goroutines queued for CPU.

// Limits bound the Check path. Zero values take the defaults.
type Limits struct {
	// MaxInFlight is how many Checks are decided at once, and how many
	// reused goroutines the gRPC server runs Checks on. default: 8 per CPU
	// (GOMAXPROCS).
	MaxInFlight int
	// MaxQueue is how many admitted-to-wait Checks may wait for a slot;
	// beyond it a Check is shed at once. default: 16 × MaxInFlight.
	MaxQueue int
	// QueueTimeout is the longest a Check waits for a slot before it is
	// shed (or less, when Envoy's deadline is nearer). default: 100ms.
	QueueTimeout time.Duration
	// MaxInFlightBytes bounds the CheckRequest bytes held at once, queued
	// or being decided; a request that does not fit is shed. Requests being
	// received are bounded by MaxRecvMsgSize each. default: 256 MiB.
	MaxInFlightBytes int64
	// MaxConcurrentStreams bounds the Checks one connection carries at
	// once (Envoy multiplexes on a few connections). default: 1024.
	MaxConcurrentStreams uint32
	// KeepaliveMinTime is the shortest interval between client pings the
	// server accepts; a client pinging more often is disconnected (Envoy's
	// connection_keepalive interval must be at least this). default: 10s.
	KeepaliveMinTime time.Duration
	// ConnectionTimeout bounds the HTTP/2 handshake of a new connection.
	// default: 10s.
	ConnectionTimeout time.Duration
	// MaxConnectionIdle closes connections that carried no RPC for this
	// long (GOAWAY; Envoy reconnects when it needs to). default: 15m.
	MaxConnectionIdle time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = 8 * runtime.GOMAXPROCS(0)
	}
	if l.MaxQueue <= 0 {
		l.MaxQueue = 16 * l.MaxInFlight
	}
	if l.QueueTimeout <= 0 {
		l.QueueTimeout = 100 * time.Millisecond
	}
	if l.MaxInFlightBytes <= 0 {
		l.MaxInFlightBytes = 256 << 20
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = 1024
	}
	if l.KeepaliveMinTime <= 0 {
		l.KeepaliveMinTime = 10 * time.Second
	}
	if l.ConnectionTimeout <= 0 {
		l.ConnectionTimeout = 10 * time.Second
	}
	if l.MaxConnectionIdle <= 0 {
		l.MaxConnectionIdle = 15 * time.Minute
	}
	return l
}

// errOverloaded is what a shed Check answers.
var errOverloaded = status.Error(codes.ResourceExhausted, "tfgate overloaded: Check shed")

// Why a Check was shed: the label of tfgate_checks_shed_total.
const (
	shedQueueFull    = "queue_full"
	shedQueueTimeout = "queue_timeout"
	shedMemory       = "memory"
)

// admission is a bounded FIFO queue in front of MaxInFlight slots.
type admission struct {
	slots    *semaphore.Weighted
	bytes    *semaphore.Weighted
	waiting  atomic.Int64
	maxQueue int64
	timeout  time.Duration
}

func newAdmission(l Limits) *admission {
	return &admission{
		slots:    semaphore.NewWeighted(int64(l.MaxInFlight)),
		bytes:    semaphore.NewWeighted(l.MaxInFlightBytes),
		maxQueue: int64(l.MaxQueue),
		timeout:  l.QueueTimeout,
	}
}

// admit takes a slot, waiting in the queue if there is room in it. It
// returns the shed reason when it did not get one.
func (a *admission) admit(ctx context.Context) (shed string) {
	if a.slots.TryAcquire(1) {
		return ""
	}
	if a.waiting.Add(1) > a.maxQueue {
		a.waiting.Add(-1)
		return shedQueueFull
	}
	defer a.waiting.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if a.slots.Acquire(ctx, 1) != nil {
		return shedQueueTimeout
	}
	return ""
}

func (a *admission) done() { a.slots.Release(1) }

// budgetedRequest carries a CheckRequest through the codec, which charges
// its encoded size to the byte budget before decoding it.
type budgetedRequest struct {
	// msg, or when it is nil req, receives the request: req straight from
	// the wire (decode.go).
	msg       *authv3.CheckRequest
	req       *pooledRequest
	budget    *semaphore.Weighted
	charged   int64
	exhausted bool
}

func (b *budgetedRequest) release() {
	if b.charged > 0 {
		b.budget.Release(b.charged)
		b.charged = 0
	}
}

// budgetCodec is the proto codec, except that a budgetedRequest is charged
// to its budget first; a request that does not fit is not decoded (grpc
// frees its bytes as soon as Unmarshal returns) and the Check is shed. An
// encodedResponse (wire.go) is sent as it is.
type budgetCodec struct{ proto encoding.CodecV2 }

func newBudgetCodec() budgetCodec { return budgetCodec{proto: encoding.GetCodecV2(proto.Name)} }

func (c budgetCodec) Name() string { return proto.Name }

func (c budgetCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*encodedResponse); ok {
		return e.data, nil
	}
	return c.proto.Marshal(v)
}

func (c budgetCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*budgetedRequest)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	n := int64(data.Len())
	if !b.budget.TryAcquire(n) {
		// Not an error: grpc would answer any codec error with INTERNAL at
		// once. The handler sees exhausted and sheds the Check.
		b.exhausted = true
		return nil
	}
	b.charged = n
	if b.msg != nil {
		return c.proto.Unmarshal(data, b.msg)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return decodeCheckRequest(buf.ReadOnlyData(), b.req)
}

// serviceDesc is envoy.service.auth.v3.Authorization with a Check handler
// that decodes under the byte budget and decides only once admitted.
func serviceDesc() *grpc.ServiceDesc {
	d := authv3.Authorization_ServiceDesc
	d.Methods = []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}}
	return &d
}

func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	s := srv.(*Server)
	var in *budgetedRequest
	if interceptor == nil {
		// Nothing but tfgate reads the request or the response: both stay
		// in wire form (decode.go, wire.go), in a pooled request.
		p := requestPool.Get().(*pooledRequest)
		defer p.release()
		in = &p.in
		*in = budgetedRequest{req: p, budget: s.admission.bytes}
	} else {
		in = &budgetedRequest{msg: new(authv3.CheckRequest), budget: s.admission.bytes}
	}
	defer in.release()
	if err := dec(in); err != nil {
		return nil, err
	}
	if in.exhausted {
		return nil, s.shed(ctx, shedMemory)
	}
	if reason := s.admission.admit(ctx); reason != "" {
		return nil, s.shed(ctx, reason)
	}
	defer s.admission.done()
	if interceptor == nil {
		return s.checkWire(ctx, &in.req.r)
	}
	// An interceptor may read the request and the response: give it the
	// messages.
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName}
	return interceptor(ctx, in.msg, info, func(ctx context.Context, req any) (any, error) {
		return s.Check(ctx, req.(*authv3.CheckRequest))
	})
}

// shed counts and logs a shed Check and returns its answer.
func (s *Server) shed(ctx context.Context, reason string) error {
	s.cfg.Metrics.shed(reason)
	s.overloadLog.note(ctx, s.cfg.Log, reason)
	return errOverloaded
}

// overloadLog logs shed Checks at most once a second, with how many were
// shed since the last line, so an overload cannot flood the log.
type overloadLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (o *overloadLog) note(ctx context.Context, log *slog.Logger, reason string) {
	o.mu.Lock()
	now := time.Now()
	if now.Sub(o.last) < time.Second {
		o.suppressed++
		o.mu.Unlock()
		return
	}
	n := o.suppressed
	o.last, o.suppressed = now, 0
	o.mu.Unlock()
	log.WarnContext(ctx, "overload: Check shed", "reason", reason, "also_shed_since_last_line", n)
}

// serverOptions are the transport limits of the Check listener.
func serverOptions(cfg Config) []grpc.ServerOption {
	l := cfg.Limits
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		grpc.ForceServerCodecV2(newBudgetCodec()),
		grpc.MaxConcurrentStreams(l.MaxConcurrentStreams),
		// Checks run on as many reused goroutines as may be decided at
		// once (more arrive on new goroutines, as without the option): a
		// new goroutine per Check grew its stack by copying on the Redis
		// and policy path, about 9% of the CPU with Redis on every Check.
		grpc.NumStreamWorkers(uint32(l.MaxInFlight)),
		grpc.ConnectionTimeout(l.ConnectionTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: l.KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: l.MaxConnectionIdle, Time: time.Minute, Timeout: 20 * time.Second}),
	}
}
