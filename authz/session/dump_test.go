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
	n, metas := 0, 0
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
			if strings.Contains(k, ":"+kindPrefixes[kindMeta]+"{") {
				metas++
				checkMetaDump(t, sk)
			}
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
	if n == 0 || len(tokens) == 0 || metas == 0 {
		t.Fatalf("the dump holds %d keys (%d metadata records) for %d tokens; the check would be vacuous", n, metas, len(tokens))
	}
	t.Logf("%d keys on %d nodes (%d metadata records) hold none of %d tokens and no name", n, len(nodes), metas, len(tokens))
}

// checkMetaDump: a session's metadata record (meta.go) is sealed, so its
// value reveals nothing in plaintext: not the JSON of Meta (its field names
// and kinds), nor a name (the secrets, checked by the caller). It must be
// the record of a subject the suite signs in, opening under that subject
// and the handle in its key only: that proves it is the record, sealed,
// and not an empty or foreign value that would pass the checks vacuously.
func checkMetaDump(t *testing.T, sk storedKey) {
	t.Helper()
	for _, plain := range []string{`"k":"`, `"i":"`, `"c":"`, `"e":"`, `"g":[`, KindBrowser, KindCLIRefresh, KindToken, KindTokenRefresh} {
		if strings.Contains(sk.Value, plain) || strings.Contains(sk.Dump, plain) {
			t.Errorf("metadata record %s holds %q in the clear", sk.Key, plain)
		}
	}
	if len(sk.Value) < sealHeader+16 || sk.Value[0] != sealVersion {
		t.Errorf("metadata record %s is not sealed: %q", sk.Key, sk.Value)
	}
	_, rest, _ := strings.Cut(sk.Key, ":"+kindPrefixes[kindMeta]+"{")
	handle := strings.TrimSuffix(rest, "}")
	for _, subject := range dumpSubjects {
		if _, err := openMeta(subject, handle, []byte(sk.Value)); err == nil {
			if _, err := openMeta(subject, handle[1:]+handle[:1], []byte(sk.Value)); err == nil {
				t.Errorf("metadata record %s opens under another handle", sk.Key)
			}
			return
		}
	}
	t.Errorf("metadata record %s opens under none of the suite's subjects %q", sk.Key, dumpSubjects)
}

// dumpSubjects are the subjects the Redis suites sign in.
var dumpSubjects = []string{"alice@example.com", "bob@example.com", "carol@example.com", "failover@example.com", "a", "b", "s", "alice"}

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
