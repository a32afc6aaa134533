package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisConfigErrors(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	redis := func(body string) string {
		return "sessions:\n  store: redis\n  redis:\n" + body
	}
	tests := map[string]struct {
		yaml string
		want []string
	}{
		"bad mode":                   {redis("    mode: ring\n"), []string{`line 4: sessions.redis.mode: "ring" is not one of standalone, cluster, sentinel`}},
		"standalone, two addresses":  {redis("    addrs: [a:1, b:2]\n"), []string{"line 4: sessions.redis.addrs: a standalone server has one address"}},
		"sentinel without a master":  {redis("    mode: sentinel\n    addrs: [a:26379]\n"), []string{"sessions.redis.master_name: is required in sentinel mode"}},
		"master name, not sentinel":  {redis("    master_name: m\n"), []string{"line 4: sessions.redis.master_name: master_name and sentinel_* are for sentinel mode only"}},
		"database in a cluster":      {redis("    mode: cluster\n    db: 2\n"), []string{"line 5: sessions.redis.db: must be 0 in cluster mode"}},
		"password and password file": {redis("    password: x\n    password_file: " + pwFile + "\n"), []string{"sessions.redis.password_file: set password or password_file, not both"}},
		"missing password file":      {redis("    password_file: /nonexistent/pw\n"), []string{"line 4: sessions.redis.password_file:", "no such file"}},
		"tls files without tls":      {redis("    tls:\n      ca_file: " + pwFile + "\n"), []string{"sessions.redis.tls.enabled: tls settings are given but TLS is off"}},
		"cert without key":           {redis("    tls:\n      enabled: true\n      cert_file: " + pwFile + "\n"), []string{"cert_file and key_file go together"}},
		"cache ttl too long":         {redis("    cache:\n      ttl: 5m\n"), []string{"line 5: sessions.redis.cache.ttl: must be between 0 (off) and 1m0s"}},
		"negative wait":              {redis("    wait_replicas: -1\n"), []string{"sessions.redis.wait_replicas: must not be negative"}},
		"zero dial timeout":          {redis("    dial_timeout: 0s\n"), []string{"sessions.redis.dial_timeout: must be positive"}},
		"idle timeout too short":     {"sessions:\n  idle_timeout: 30s\n", []string{"line 2: sessions.idle_timeout: 30s is too short"}},
		"negative max lifetime":      {"sessions:\n  max_lifetime: -1h\n", []string{"line 2: sessions.max_lifetime: must not be negative"}},
		"url scheme":                 {redis("    url: http://a:1\n"), []string{`sessions.redis.url: scheme "http" is not redis or rediss`}},
		"url parameter":              {redis("    url: redis://a:1?timeout=3\n"), []string{`unknown query parameter "timeout"`}},
		"url database":               {redis("    url: redis://a:1/zero\n"), []string{`path "/zero" is not a database number`}},
		"url two hosts, standalone":  {redis("    url: redis://a:1?addr=b:2\n"), []string{"a standalone server has one address"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig("c.yaml", []byte(tc.yaml), noEnv)
			if err == nil {
				t.Fatal("want an error, got none")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRedisURLErrorsHideThePassword: a URL that does not parse must not be
// echoed, since it may carry a password.
func TestRedisURLErrorsHideThePassword(t *testing.T) {
	t.Parallel()
	_, err := ParseConfig("c.yaml", []byte("sessions:\n  store: redis\n  redis:\n    url: \"redis://u:hunter2@a b:1\"\n"), noEnv)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error = %v; want one that does not contain the password", err)
	}
}

func TestRedisConfigResolve(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		cfg  RedisConfig
		want redisTarget
	}{
		"fields": {
			RedisConfig{Addrs: []string{"a:1"}, Username: "u", Password: "p", DB: 3},
			redisTarget{addrs: []string{"a:1"}, username: "u", password: "p", db: 3},
		},
		"url overrides": {
			RedisConfig{Addrs: []string{"x:9"}, Username: "f", Password: "f", URL: "rediss://u:p%40ss@a:1/2?addr=b:2&addr=c:3"},
			redisTarget{addrs: []string{"a:1", "b:2", "c:3"}, username: "u", password: "p@ss", db: 2, tls: true},
		},
		"url keeps what it does not say": {
			RedisConfig{Username: "f", Password: "f", MasterName: "m", URL: "redis://s:26379?addr=t:26379"},
			redisTarget{addrs: []string{"s:26379", "t:26379"}, username: "f", password: "f", masterName: "m"},
		},
		"url master name": {
			RedisConfig{URL: "redis://s:26379?master_name=tfgate"},
			redisTarget{addrs: []string{"s:26379"}, masterName: "tfgate"},
		},
	}
	for name, tc := range tests {
		got, err := tc.cfg.resolve()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: resolve = %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestLifetimeFromConfig(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig("c.yaml", []byte("sessions:\n  max_lifetime: 8h\n  idle_timeout: 0s\n  max_auth_age: 4h\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	l := lifetime(cfg.Sessions)
	if l.Max != 8*time.Hour || l.Idle != 0 || l.MaxAuthAge != 4*time.Hour {
		t.Errorf("lifetime = %+v", l)
	}
}

// TestRedisClientSpeaksRESP2: the client serve builds speaks RESP2 in
// every mode. Under RESP3 go-redis peeks for push notifications around
// every command (about a tenth of a lookup's CPU), and tfgate uses no
// RESP3 feature (docs/performance.md).
func TestRedisClientSpeaksRESP2(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster", "sentinel"} {
		cfg := RedisConfig{Mode: mode, Addrs: []string{"127.0.0.1:1"}}
		if mode == "sentinel" {
			cfg.MasterName = "mymaster"
		}
		c, err := newRedisClient(cfg)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		var proto int
		switch c := c.(type) {
		case *redis.Client:
			proto = c.Options().Protocol
		case *redis.ClusterClient:
			proto = c.Options().Protocol
		default:
			t.Fatalf("%s: a %T", mode, c)
		}
		c.Close()
		if proto != 2 {
			t.Errorf("%s: Protocol %d, want 2", mode, proto)
		}
	}
}
