package envoy

import (
	"context"
	"net"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/authz"
)

// gate holds every Check until released, and counts the Checks it holds.
type gate struct {
	release chan struct{}
	entered chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{}), entered: make(chan struct{}, 100)} }

func (g *gate) Check(ctx context.Context, _ *authz.Request) (*authz.Decision, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &authz.Decision{ID: "x", Allow: true}, nil
}

// serveChecks serves cfg over real gRPC on a loopback port and returns a
// client and the metrics registry.
func serveChecks(t *testing.T, cfg Config) (authv3.AuthorizationClient, *prometheus.Registry) {
	t.Helper()
	conn, reg := serveChecksConn(t, cfg)
	return authv3.NewAuthorizationClient(conn), reg
}

// serveChecksConn is serveChecks with the gRPC server's options opts,
// returning the client connection itself.
func serveChecksConn(t *testing.T, cfg Config, opts ...grpc.ServerOption) (*grpc.ClientConn, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Metrics = NewMetrics(reg)
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGRPCServer(s, health.NewServer(), opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, reg
}

func checkWithBody(body []byte) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/x", RawBody: body},
	}}}
}

func recvCode(t *testing.T, ch <-chan codes.Code) codes.Code {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no answer in 5s")
		return codes.Unknown
	}
}

func shedCount(reg *prometheus.Registry, reason string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "tfgate_checks_shed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestAdmissionQueuesThenSheds: with 2 slots and a queue of 2, two Checks
// are decided, two wait, and the rest are shed at once with
// RESOURCE_EXHAUSTED; the waiting ones are shed after QueueTimeout. Every
// shed is counted by reason. (Before admission control every Check was
// decided at once, however many there were.)
func TestAdmissionQueuesThenSheds(t *testing.T) {
	g := newGate()
	client, reg := serveChecks(t, Config{Checker: g, Limits: Limits{MaxInFlight: 2, MaxQueue: 2, QueueTimeout: 300 * time.Millisecond}})
	ctx := t.Context()

	var wg sync.WaitGroup
	codesSeen := make(chan codes.Code, 10)
	call := func() {
		defer wg.Done()
		_, err := client.Check(ctx, checkWithBody(nil))
		codesSeen <- status.Code(err)
	}
	wg.Add(2)
	go call()
	go call()
	<-g.entered
	<-g.entered // both slots taken
	wg.Add(4)
	for range 4 {
		go call()
	}
	// Two are shed at once (queue full); two wait and then time out.
	for range 2 {
		select {
		case c := <-codesSeen:
			if c != codes.ResourceExhausted {
				t.Fatalf("beyond the queue: %v, want ResourceExhausted", c)
			}
		case <-time.After(250 * time.Millisecond):
			t.Fatal("Checks beyond the queue were not shed at once")
		}
	}
	for range 2 {
		if c := recvCode(t, codesSeen); c != codes.ResourceExhausted {
			t.Fatalf("queued past QueueTimeout: %v, want ResourceExhausted", c)
		}
	}
	close(g.release)
	wg.Wait()
	for range 2 {
		if c := recvCode(t, codesSeen); c != codes.OK {
			t.Fatalf("admitted Check: %v, want OK", c)
		}
	}
	if got := shedCount(reg, shedQueueFull); got != 2 {
		t.Errorf("queue_full = %v, want 2", got)
	}
	if got := shedCount(reg, shedQueueTimeout); got != 2 {
		t.Errorf("queue_timeout = %v, want 2", got)
	}
	// Once the slots are free, Checks are decided again.
	if _, err := client.Check(ctx, checkWithBody(nil)); err != nil {
		t.Fatalf("after the overload: %v", err)
	}
}

// TestByteBudgetShedsLargeRequests: with a 3 MiB budget, two 1.2 MiB
// CheckRequests in flight leave no room for a third, which is shed as
// "memory" without being decided; a small one still fits. (Before the
// budget, any number of bodies up to MaxRecvMsgSize each were held.)
func TestByteBudgetShedsLargeRequests(t *testing.T) {
	g := newGate()
	client, reg := serveChecks(t, Config{Checker: g, MaxRecvMsgSize: 2 << 20,
		Limits: Limits{MaxInFlight: 10, MaxInFlightBytes: 3 << 20}})
	ctx := t.Context()
	big := checkWithBody(make([]byte, 1200<<10))

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := client.Check(ctx, big); err != nil {
				t.Errorf("first two: %v", err)
			}
		})
	}
	<-g.entered
	<-g.entered
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := client.Check(short, big)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "overloaded") {
		t.Fatalf("third large Check: %v, want ResourceExhausted", err)
	}
	if got := shedCount(reg, shedMemory); got != 1 {
		t.Errorf("memory = %v, want 1", got)
	}
	select {
	case <-g.entered:
		t.Fatal("the shed Check was decided")
	default:
	}
	small := make(chan error, 1)
	go func() { _, err := client.Check(ctx, checkWithBody(make([]byte, 100<<10))); small <- err }()
	<-g.entered // admitted and being decided
	close(g.release)
	if err := <-small; err != nil {
		t.Fatalf("small Check: %v", err)
	}
	wg.Wait()
	// All released: the large one fits again.
	if _, err := client.Check(ctx, big); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestNewServerRefusesBudgetBelowMessageSize(t *testing.T) {
	_, err := NewServer(Config{Checker: newGate(), MaxRecvMsgSize: 4 << 20, Limits: Limits{MaxInFlightBytes: 1 << 20}})
	if err == nil {
		t.Fatal("want an error")
	}
}

// allowAll decides every Check at once.
type allowAll struct{}

func (allowAll) Check(context.Context, *authz.Request) (*authz.Decision, error) {
	return &authz.Decision{ID: "x", Allow: true}, nil
}

// goroutinesCreated is the process's count of goroutines ever created.
func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Checks run on the gRPC server's pooled stream workers, not on a new
// goroutine each: a new goroutine starts with a small stack that the Check
// path (Redis client, policy) grows by copying, which was about 9% of the
// process's CPU with Redis on every Check (tfgate-bench -scenarios
// allow-redis -cpuprofile: runtime.newstack/copystack).
func TestChecksRunOnPooledGoroutines(t *testing.T) {
	client, _ := serveChecks(t, Config{Checker: allowAll{}})
	ctx := context.Background()
	req := checkWithBody(nil)
	check := func() {
		resp, err := client.Check(ctx, req)
		if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
			t.Fatalf("Check = %v, %v; want OK", resp.GetStatus(), err)
		}
	}
	for range 10 {
		check()
	}
	const n = 500
	before := goroutinesCreated()
	for range n {
		check()
	}
	if created := goroutinesCreated() - before; created > n/4 {
		t.Fatalf("%d sequential Checks created %d goroutines; want them served by the pooled stream workers (at most %d)", n, created, n/4)
	}
}
