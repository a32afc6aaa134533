package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/redistest"
)

// TestStatuszTopology: /statusz's sessions show each Redis node's address
// and role, from a real 3-node cluster, a Sentinel-managed master with a
// replica, and a standalone server. The topology is asked for in the
// background: building the /statusz answer makes no Redis round trip (it
// works with a canceled context).
func TestStatuszTopology(t *testing.T) {
	t.Parallel()
	type want struct{ masters, replicas int }
	cases := map[string]struct {
		start func(t *testing.T) (yaml string, addrs []string)
		want  want
	}{
		"cluster": {func(t *testing.T) (string, []string) {
			c := redistest.StartCluster(t, 3, 0)
			return "    mode: cluster\n    addrs: [\"" + c.Addrs[0] + "\"]\n", c.Addrs
		}, want{3, 0}},
		"sentinel": {func(t *testing.T) (string, []string) {
			s := redistest.StartSentinel(t, 1)
			return "    mode: sentinel\n    url: redis://" + s.Addr + "?master_name=" + s.MasterName + "\n", nil
		}, want{1, 1}},
		"standalone": {func(t *testing.T) (string, []string) {
			srv := redistest.Start(t)
			return "    addrs: [\"" + srv.Addr + "\"]\n", []string{srv.Addr}
		}, want{1, 0}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, addrs := tc.start(t)
			_, cfg := writeRedisConfig(t, body+"    timeout: 1s\n", "")
			s, err := newSessionStore(cfg.Sessions, discardLog())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			o := &observability{cfg: cfg, store: s}
			canceled, cancel := context.WithCancel(context.Background())
			cancel()
			if st := o.sessions(canceled); st.Topology != nil {
				t.Fatalf("a topology before the first refresh: %+v", st.Topology)
			}
			s.topology.refresh(context.Background(), s.client)
			st := o.sessions(canceled)
			topo := st.Topology
			if topo == nil || topo.Error != "" || time.Since(topo.At) > time.Minute {
				t.Fatalf("topology %+v", topo)
			}
			var got want
			for _, n := range topo.Nodes {
				switch n.Role {
				case "master":
					got.masters++
				case "replica":
					got.replicas++
					if n.Addr == "" {
						t.Errorf("replica without an address: %+v", n)
					}
				default:
					t.Errorf("node %+v: role not master or replica", n)
				}
				if n.Failing {
					t.Errorf("node %+v failing in a healthy deployment", n)
				}
				if addrs != nil && !slices.Contains(addrs, n.Addr) {
					t.Errorf("node address %q is not one of %v", n.Addr, addrs)
				}
			}
			if got != tc.want || st.Nodes != len(topo.Nodes) {
				t.Errorf("%d masters and %d replicas (nodes %d), want %+v: %+v", got.masters, got.replicas, st.Nodes, tc.want, topo.Nodes)
			}
		})
	}
}

func TestParseClusterNodes(t *testing.T) {
	text := "07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected\n" +
		"67ed 127.0.0.1:30002@40002,host.example master - 0 1426238316232 2 connected 5461-10922\n" +
		"e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460\n" +
		"6ec2 127.0.0.1:30003@40003 master,fail? - 1426238317741 1426238316232 0 disconnected 10923-16383\n" +
		"garbage\n"
	got := parseClusterNodes(text)
	want := []redisNode{{"127.0.0.1:30004", "replica", false}, {"127.0.0.1:30002", "master", false},
		{"127.0.0.1:30001", "master", false}, {"127.0.0.1:30003", "master", true}}
	if !slices.Equal(got, want) {
		t.Errorf("parseClusterNodes = %+v, want %+v", got, want)
	}
}
