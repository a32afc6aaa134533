package session

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// checkFullDump is what someone with a dump of every node (replicas too)
// would find: KEYS *, and each key's value and DUMP. No token and no name
// the suite used may be in it, and every key must expire.
func checkFullDump(t *testing.T, tokens []string, nodes []*redis.Client) {
	ctx := context.Background()
	n := 0
	for _, node := range nodes {
		conn := node.Conn()          // one connection, so READONLY applies to what follows
		_ = conn.ReadOnly(ctx).Err() // a cluster replica serves reads only after it
		keys, err := conn.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatalf("KEYS * on %s: %v", node.Options().Addr, err)
		}
		for _, k := range keys {
			sk := dumpKey(t, conn, k)
			n++
			if sk.TTL <= 0 {
				t.Errorf("%s: key %s has no TTL", node.Options().Addr, k)
			}
			all := sk.Key + sk.Value + sk.Dump
			for _, name := range secrets {
				if strings.Contains(all, name) {
					t.Errorf("%s: key %s (%s) holds %q in the clear", node.Options().Addr, k, sk.Type, name)
				}
			}
			for _, tok := range tokens {
				if strings.Contains(all, tok) {
					t.Errorf("%s: key %s holds a token", node.Options().Addr, k)
				}
			}
		}
		conn.Close()
	}
	if n == 0 || len(tokens) == 0 {
		t.Fatalf("the dump holds %d keys for %d tokens; the check would be vacuous", n, len(tokens))
	}
	t.Logf("%d keys on %d nodes hold none of %d tokens and no name", n, len(nodes), len(tokens))
}

// dumpKeys returns every key under prefix on nodes (masters only: a replica
// holds copies), with what a dump would show of it.
func dumpKeys(tb testing.TB, prefix string, nodes []*redis.Client) []storedKey {
	tb.Helper()
	ctx := context.Background()
	var keys []storedKey
	for _, node := range nodes {
		if role, err := node.Do(ctx, "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "master" {
			continue
		}
		iter := node.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, dumpKey(tb, node, iter.Val()))
		}
		if err := iter.Err(); err != nil {
			tb.Fatalf("SCAN: %v", err)
		}
	}
	return keys
}

func dumpKey(tb testing.TB, node redis.Cmdable, k string) storedKey {
	tb.Helper()
	ctx := context.Background()
	sk := storedKey{Key: k}
	var err error
	if sk.Type, err = node.Type(ctx, k).Result(); err != nil {
		tb.Fatalf("TYPE %s: %v", k, err)
	}
	switch sk.Type {
	case "string":
		sk.Value, err = node.Get(ctx, k).Result()
	case "zset":
		var zs []redis.Z
		zs, err = node.ZRangeWithScores(ctx, k, 0, -1).Result()
		sk.Value = fmt.Sprint(zs)
	case "set":
		var ms []string
		ms, err = node.SMembers(ctx, k).Result()
		sk.Value = strings.Join(ms, " ")
	default:
		tb.Errorf("key %s has unexpected type %s", k, sk.Type)
	}
	if err != nil {
		tb.Fatalf("reading %s: %v", k, err)
	}
	if sk.Dump, err = node.Dump(ctx, k).Result(); err != nil {
		tb.Fatalf("DUMP %s: %v", k, err)
	}
	if sk.TTL, err = node.PTTL(ctx, k).Result(); err != nil {
		tb.Fatalf("PTTL %s: %v", k, err)
	}
	return sk
}
