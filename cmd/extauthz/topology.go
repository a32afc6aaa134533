package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// topologyInterval is how often the Redis topology in /statusz is asked
// for: /statusz itself never makes a Redis round trip, however often it
// is requested.
const topologyInterval = 10 * time.Second

// redisNode is one Redis node in /statusz.
type redisNode struct {
	// Addr is the node's host:port as Redis reports it ("" for a
	// Sentinel-managed master, whose address the client keeps to itself).
	Addr string `json:"addr,omitempty"`
	// Role is master or replica.
	Role string `json:"role"`
	// Failing is set when the cluster marks the node failing (fail or
	// pfail) or its link down.
	Failing bool `json:"failing,omitempty"`
}

// redisTopology is the last topology seen, refreshed in the background.
type redisTopology struct {
	Nodes []redisNode `json:"nodes"`
	// At is when it was asked for; Error why the last attempt failed
	// (Nodes then stay those of the last success).
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

// topologyWatch holds the latest redisTopology.
type topologyWatch struct {
	last atomic.Pointer[redisTopology]
}

// load returns the latest topology, or nil before the first attempt.
func (w *topologyWatch) load() *redisTopology { return w.last.Load() }

// run refreshes the topology every topologyInterval until ctx is done.
func (w *topologyWatch) run(ctx context.Context, client redis.UniversalClient) {
	t := time.NewTicker(topologyInterval)
	defer t.Stop()
	for {
		w.refresh(ctx, client)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh asks Redis for its topology once, within pingTimeout.
func (w *topologyWatch) refresh(ctx context.Context, client redis.UniversalClient) {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	nodes, err := askTopology(ctx, client)
	if ctx.Err() != nil && err == nil {
		err = ctx.Err()
	}
	next := &redisTopology{Nodes: nodes, At: time.Now().UTC()}
	if err != nil {
		next.Error = err.Error()
		if prev := w.last.Load(); prev != nil {
			next.Nodes = prev.Nodes
		}
	}
	w.last.Store(next)
}

// askTopology is CLUSTER NODES for a cluster, ROLE otherwise.
func askTopology(ctx context.Context, client redis.UniversalClient) ([]redisNode, error) {
	if cc, ok := client.(*redis.ClusterClient); ok {
		text, err := cc.ClusterNodes(ctx).Result()
		if err != nil {
			return nil, err
		}
		return parseClusterNodes(text), nil
	}
	role, err := client.Do(ctx, "ROLE").Slice()
	if err != nil {
		return nil, err
	}
	addr := ""
	if c, ok := client.(*redis.Client); ok && !strings.Contains(c.Options().Addr, "Failover") {
		addr = c.Options().Addr
	}
	return parseRole(role, addr)
}

// parseClusterNodes reads CLUSTER NODES: one line per node, "id
// ip:port@cport[,hostname] flags master ping pong epoch link-state slots...".
func parseClusterNodes(text string) []redisNode {
	var nodes []redisNode
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := redisNode{Addr: addr, Role: "master", Failing: f[7] != "connected"}
		for flag := range strings.SplitSeq(f[2], ",") {
			switch flag {
			case "slave", "replica":
				n.Role = "replica"
			case "fail", "fail?":
				n.Failing = true
			}
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// parseRole reads ROLE from the node at addr: ["master", offset,
// [[ip, port, offset], ...]] lists its replicas too; ["slave", ip, port,
// ...] is a replica.
func parseRole(role []any, addr string) ([]redisNode, error) {
	if len(role) == 0 {
		return nil, fmt.Errorf("ROLE: empty reply")
	}
	switch role[0] {
	case "master":
		nodes := []redisNode{{Addr: addr, Role: "master"}}
		if len(role) >= 3 {
			replicas, _ := role[2].([]any)
			for _, r := range replicas {
				if r, ok := r.([]any); ok && len(r) >= 2 {
					nodes = append(nodes, redisNode{Addr: net.JoinHostPort(fmt.Sprint(r[0]), fmt.Sprint(r[1])), Role: "replica"})
				}
			}
		}
		return nodes, nil
	case "slave":
		n := redisNode{Addr: addr, Role: "replica"}
		if len(role) >= 4 && role[3] != "connected" {
			n.Failing = true
		}
		return []redisNode{n}, nil
	}
	return nil, fmt.Errorf("ROLE: unexpected role %q", fmt.Sprint(role[0]))
}
