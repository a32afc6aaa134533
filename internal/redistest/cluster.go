package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// clusterSlots is the number of hash slots in a Redis Cluster.
	clusterSlots = 16384
	// clusterTimeout bounds forming the cluster and each WaitOK.
	clusterTimeout = 20 * time.Second
)

// clusterConfig makes a node cluster-enabled. The short node timeout lets
// failover tests finish in seconds, a zero validity factor lets any replica
// take over however long its master has been gone, and a zero diskless-sync
// delay makes replicas sync at once instead of after Redis's default 5s.
//
// A new master still reports cluster_state:ok only 2s after it started
// (Redis's CLUSTER_WRITABLE_DELAY), so a cluster takes about 2s to form.
var clusterConfig = []string{
	"cluster-enabled yes",
	"cluster-config-file nodes.conf",
	"cluster-node-timeout 2000",
	"cluster-replica-validity-factor 0",
	"repl-diskless-sync-delay 0",
}

// Cluster is a Redis Cluster of redis-server processes on loopback.
type Cluster struct {
	// Addrs holds every node's address, masters first, in the order of Nodes.
	Addrs []string
	// Nodes holds every node: the masters first, then the replicas of
	// master 0, of master 1, and so on. Roles can change after a failover;
	// Nodes keeps the creation order.
	Nodes []*Server
	// IDs holds each node's cluster node ID, in the order of Nodes.
	IDs []string

	tb      testing.TB
	masters int

	mu     sync.Mutex
	client *redis.ClusterClient
}

// StartCluster starts masters*(1+replicasPerMaster) cluster-enabled
// redis-servers, assigns the hash slots evenly to the masters, attaches the
// replicas, and returns once every node reports cluster_state:ok (and every
// replica's link to its master is up). Every node is killed when the test
// ends.
func StartCluster(tb testing.TB, masters, replicasPerMaster int) *Cluster {
	tb.Helper()
	if masters < 1 || replicasPerMaster < 0 {
		tb.Fatalf("redistest: StartCluster(%d, %d): need at least one master and no negative replica count", masters, replicasPerMaster)
	}
	c := &Cluster{tb: tb, masters: masters}
	root := tb.TempDir()
	for i := range masters * (1 + replicasPerMaster) {
		dir := filepath.Join(root, "node"+strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		node := startServer(tb, dir, clusterConfig)
		c.Nodes = append(c.Nodes, node)
		c.Addrs = append(c.Addrs, node.Addr)
	}
	tb.Cleanup(c.closeClient)
	c.form(replicasPerMaster)
	c.WaitOK()
	return c
}

// Masters returns the nodes created as masters.
func (c *Cluster) Masters() []*Server { return c.Nodes[:c.masters] }

// Replicas returns the nodes created as replicas.
func (c *Cluster) Replicas() []*Server { return c.Nodes[c.masters:] }

// Client returns a cluster client for all nodes, created on first use and
// closed when the test ends. It has ContextTimeoutEnabled set.
func (c *Cluster) Client() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs, ContextTimeoutEnabled: true})
	}
	return c.client
}

func (c *Cluster) closeClient() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client != nil {
		_ = c.client.Close()
		c.client = nil
	}
}

// form does what `redis-cli --cluster create` does, without its fixed
// one-second waits: distinct config epochs, slots to masters, MEET, then
// REPLICATE once each replica knows its master.
func (c *Cluster) form(replicasPerMaster int) {
	c.tb.Helper()
	ctx := context.Background()
	for i, node := range c.Nodes {
		cl := node.Client()
		id, err := cl.ClusterMyID(ctx).Result()
		c.check(node, "CLUSTER MYID", err)
		c.IDs = append(c.IDs, id)
		c.check(node, "CLUSTER SET-CONFIG-EPOCH", cl.Do(ctx, "cluster", "set-config-epoch", i+1).Err())
		if i < c.masters {
			lo, hi := i*clusterSlots/c.masters, (i+1)*clusterSlots/c.masters-1
			c.check(node, "CLUSTER ADDSLOTSRANGE", cl.ClusterAddSlotsRange(ctx, lo, hi).Err())
		}
	}
	first := c.Nodes[0].Client()
	for _, node := range c.Nodes[1:] {
		host, port, _ := net.SplitHostPort(node.Addr)
		c.check(c.Nodes[0], "CLUSTER MEET", first.ClusterMeet(ctx, host, port).Err())
	}
	for j, replica := range c.Replicas() {
		master := j / replicasPerMaster
		c.waitFor("replica "+replica.Addr+" to learn its master", func() error {
			return replica.Client().ClusterReplicate(ctx, c.IDs[master]).Err()
		})
	}
}

// WaitOK waits until every running node reports cluster_state:ok, knows
// every node, sees every slot served by a running node, and (for a replica)
// has its replication link up. After a master is killed this waits for the
// failover, so call it after Kill, Stop or Restart of a node.
func (c *Cluster) WaitOK() {
	c.tb.Helper()
	ctx := context.Background()
	for _, node := range c.Nodes {
		if node.running() == nil {
			continue
		}
		c.waitFor(node.Addr+" to report cluster_state:ok", func() error {
			if err := clusterOK(ctx, node.Client(), len(c.Nodes)); err != nil {
				return err
			}
			return c.mastersRunning(ctx, node.Client())
		})
	}
}

// mastersRunning checks that, in one node's view, every master that owns
// slots is a node whose process is running. Right after a master dies the
// survivors still report cluster_state:ok until the node timeout passes;
// this is what makes WaitOK wait for the failover instead.
func (c *Cluster) mastersRunning(ctx context.Context, cl *redis.Client) error {
	nodes, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	for line := range strings.Lines(nodes) {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") {
			continue // not a master, or a master without slots
		}
		addr, _, _ := strings.Cut(f[1], "@")
		if !c.isRunning(addr) {
			return fmt.Errorf("slots %s still served by stopped node %s", f[8], addr)
		}
	}
	return nil
}

func (c *Cluster) isRunning(addr string) bool {
	for _, node := range c.Nodes {
		if node.Addr == addr {
			return node.running() != nil
		}
	}
	return false
}

// clusterOK reports why a node is not yet a healthy member of a cluster of
// n nodes (a failed node still counts as known), or nil.
func clusterOK(ctx context.Context, cl *redis.Client, n int) error {
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return fmt.Errorf("cluster info: %s", firstLine(info))
	}
	if !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r") {
		return fmt.Errorf("node does not know all %d nodes yet", n)
	}
	repl, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		return err
	}
	if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return fmt.Errorf("replication link not up")
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// waitFor polls cond until it returns nil or clusterTimeout passes.
func (c *Cluster) waitFor(what string, cond func() error) {
	c.tb.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("redistest: waiting for %s: %v\n%s", what, err, c.logTails())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) check(node *Server, what string, err error) {
	c.tb.Helper()
	if err != nil {
		node.fatalf("redistest: %s on %s: %v", what, node.Addr, err)
	}
}

// logTails joins the log tails of all nodes for a failure message.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, node := range c.Nodes {
		fmt.Fprintf(&b, "--- tail of %s ---\n%s\n", node.logPath(), node.logTail())
	}
	return b.String()
}
