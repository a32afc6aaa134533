package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMasterName is the name the sentinel monitors its master under.
const SentinelMasterName = "tfgate-test"

// sentinelTimeout bounds forming the group and each WaitFailover.
const sentinelTimeout = 30 * time.Second

// Sentinel is a Redis Sentinel deployment on loopback: one master, its
// replicas and one sentinel that monitors them with a quorum of one.
type Sentinel struct {
	// MasterName is the name clients ask the sentinel for.
	MasterName string
	// Addr is the sentinel's address, the only one clients need.
	Addr string
	// Nodes are the data nodes: the first was created as the master, the
	// rest as its replicas. Roles change after a failover; Master reports
	// the current one.
	Nodes []*Server
	// Sentinel is the sentinel process.
	Sentinel *Server

	tb     testing.TB
	mu     sync.Mutex
	client *redis.Client
}

// sentinelConfig makes failover quick: the master counts as down after 1s
// without an answer, and a failed failover may be retried after 5s.
func sentinelConfig(masterAddr string) []string {
	host, port, _ := net.SplitHostPort(masterAddr)
	return []string{
		fmt.Sprintf("sentinel monitor %s %s %s 1", SentinelMasterName, host, port),
		"sentinel down-after-milliseconds " + SentinelMasterName + " 1000",
		"sentinel failover-timeout " + SentinelMasterName + " 5000",
		"sentinel parallel-syncs " + SentinelMasterName + " 1",
	}
}

// StartSentinel starts a master, replicas replicas of it and a sentinel
// monitoring them, and returns once every replica's link is up and the
// sentinel knows every replica. Everything is killed when the test ends.
func StartSentinel(tb testing.TB, replicas int) *Sentinel {
	tb.Helper()
	if replicas < 0 {
		tb.Fatalf("redistest: StartSentinel(%d): negative replica count", replicas)
	}
	root := tb.TempDir()
	dir := func(name string) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		return d
	}
	s := &Sentinel{MasterName: SentinelMasterName, tb: tb}
	master := startServer(tb, dir("node0"), []string{"repl-diskless-sync-delay 0"})
	s.Nodes = append(s.Nodes, master)
	host, port, _ := net.SplitHostPort(master.Addr)
	for i := range replicas {
		r := startServer(tb, dir(fmt.Sprintf("node%d", i+1)), []string{"replicaof " + host + " " + port, "repl-diskless-sync-delay 0"})
		s.Nodes = append(s.Nodes, r)
	}
	// The sentinel learns the replicas from the master's INFO, which it reads
	// at once when it connects; with every link up first, it knows them all
	// without waiting for its 10s refresh.
	for _, r := range s.Nodes[1:] {
		s.waitFor("replica "+r.Addr+" to sync", func() error { return linkUp(r) })
	}
	// A replica reports its link up a moment before the master counts it
	// online (at its first REPLCONF ACK); until then the master's ROLE,
	// which /statusz reads, leaves it out.
	s.waitFor("the master to list every replica online", func() error { return replicasOnline(master, replicas) })
	s.Sentinel = startServer(tb, dir("sentinel"), sentinelConfig(master.Addr), "--sentinel")
	s.Addr = s.Sentinel.Addr
	tb.Cleanup(s.closeClient)
	s.waitFor("the sentinel to know every replica", s.knowsReplicas)
	return s
}

// Client returns a sentinel-backed failover client, created on first use and
// closed when the test ends. It has ContextTimeoutEnabled set.
func (s *Sentinel) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: s.MasterName, SentinelAddrs: []string{s.Addr}, ContextTimeoutEnabled: true,
		})
	}
	return s.client
}

func (s *Sentinel) closeClient() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
}

// Master returns the data node the sentinel currently names as master.
func (s *Sentinel) Master() *Server {
	s.tb.Helper()
	addr, err := s.masterAddr(context.Background())
	if err != nil {
		s.Sentinel.fatalf("redistest: asking the sentinel for the master: %v", err)
	}
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	s.tb.Fatalf("redistest: the sentinel names %s, which is not one of the nodes", addr)
	return nil
}

// WaitFailover waits until the sentinel names a running master other than
// old, that node reports role:master, and every other running data node
// replicates from it. Call it after Kill or Stop of the master.
func (s *Sentinel) WaitFailover(old *Server) {
	s.tb.Helper()
	ctx := context.Background()
	s.waitFor("the sentinel to fail over from "+old.Addr, func() error {
		addr, err := s.masterAddr(ctx)
		if err != nil {
			return err
		}
		if addr == old.Addr {
			return fmt.Errorf("master is still %s", addr)
		}
		for _, n := range s.Nodes {
			if n.running() == nil {
				continue
			}
			info, err := n.Client().Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			switch {
			case n.Addr == addr && !strings.Contains(info, "role:master"):
				return fmt.Errorf("new master %s is not yet role:master", addr)
			case n.Addr != addr && !strings.Contains(info, "master_link_status:up"):
				return fmt.Errorf("%s does not yet replicate from %s", n.Addr, addr)
			}
		}
		return nil
	})
}

func (s *Sentinel) masterAddr(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := s.Sentinel.Client().Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName).StringSlice()
	if err != nil {
		return "", err
	}
	if len(v) != 2 {
		return "", fmt.Errorf("unexpected answer %q", v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// knowsReplicas reports whether the sentinel lists every created replica
// as a healthy replica.
func (s *Sentinel) knowsReplicas() error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	v, err := s.Sentinel.Client().Do(ctx, "SENTINEL", "REPLICAS", s.MasterName).Slice()
	if err != nil {
		return err
	}
	healthy := 0
	for _, r := range v {
		fields := sentinelFields(r)
		if !strings.Contains(fields["flags"], "down") && !strings.Contains(fields["flags"], "disconnected") {
			healthy++
		}
	}
	if want := len(s.Nodes) - 1; healthy < want {
		return fmt.Errorf("sentinel knows %d healthy replicas, want %d", healthy, want)
	}
	return nil
}

// sentinelFields turns one entry of SENTINEL REPLICAS (a flat list in RESP2,
// a map in RESP3) into a map.
func sentinelFields(v any) map[string]string {
	out := map[string]string{}
	switch e := v.(type) {
	case map[any]any:
		for k, val := range e {
			out[fmt.Sprint(k)] = fmt.Sprint(val)
		}
	case []any:
		for i := 0; i+1 < len(e); i += 2 {
			out[fmt.Sprint(e[i])] = fmt.Sprint(e[i+1])
		}
	}
	return out
}

// linkUp reports whether a replica's replication link is up.
func linkUp(r *Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	info, err := r.Client().Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replication link not up")
	}
	return nil
}

// replicasOnline reports whether master's ROLE lists n replicas: ROLE
// lists only the replicas the master counts as online.
func replicasOnline(master *Server, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	role, err := master.Client().Do(ctx, "ROLE").Slice()
	if err != nil {
		return err
	}
	if len(role) < 3 {
		return fmt.Errorf("ROLE: %v", role)
	}
	listed, _ := role[2].([]any)
	if len(listed) < n {
		return fmt.Errorf("the master's ROLE lists %d replicas, want %d", len(listed), n)
	}
	return nil
}

// waitFor polls cond until it returns nil or sentinelTimeout passes.
func (s *Sentinel) waitFor(what string, cond func() error) {
	s.tb.Helper()
	deadline := time.Now().Add(sentinelTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, n := range append(append([]*Server{}, s.Nodes...), s.Sentinel) {
				if n != nil {
					fmt.Fprintf(&b, "--- tail of %s ---\n%s\n", n.logPath(), n.logTail())
				}
			}
			s.tb.Fatalf("redistest: waiting for %s: %v\n%s", what, err, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
