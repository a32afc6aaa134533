package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func TestExampleConfigIsTheDefaults(t *testing.T) {
	data, err := os.ReadFile("../../extauthz.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("extauthz.example.yaml", data, noEnv)
	if err != nil {
		t.Fatalf("example config does not load: %v", err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("example config differs from DefaultConfig():\n got %+v\nwant %+v", cfg, want)
	}
	// Every field must be documented in the example.
	for _, path := range fieldPaths(reflect.TypeFor[Config](), "") {
		if lineOf(mustNode(t, data), path) == 0 {
			t.Errorf("field %s is missing from extauthz.example.yaml", path)
		}
	}
}

func TestEmptyConfigIsTheDefaults(t *testing.T) {
	cfg, err := ParseConfig("empty.yaml", nil, noEnv)
	if err != nil || !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Fatalf("empty config: %v, %+v", err, cfg)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := map[string]struct {
		yaml string
		want []string // substrings of the error, each must appear
	}{
		"unknown top-level field": {"listen:\n  grpc: \":1\"\nlisen: {}\n", []string{`line 3: unknown field "lisen" in the top level`}},
		"unknown nested field":    {"sessions:\n  redis:\n    adrs: [a]\n", []string{`line 3: unknown field "adrs" in sessions.redis`, "known: addrs"}},
		"bad store":               {"sessions:\n  store: mysql\n", []string{`line 2: sessions.store: "mysql" is not one of memory, redis`}},
		"bad address":             {"listen:\n  grpc: \"9191\"\n", []string{"line 2: listen.grpc"}},
		"bad duration":            {"sessions:\n  redis:\n    timeout: soon\n", []string{"line 3"}},
		"wrong type":              {"listen:\n  max_request_bytes: lots\n", []string{"line 2"}},
		"negative reload":         {"policy:\n  reload_interval: -1s\n", []string{"line 2: policy.reload_interval"}},
		"missing policy dir":      {"policy:\n  dir: /nonexistent/tfgate\n", []string{"policy.dir"}},
		"unset env":               {"sessions:\n  redis:\n    password: ${TFGATE_TEST_UNSET}\n", []string{"line 3: environment variable TFGATE_TEST_UNSET is not set"}},
		"two problems":            {"log:\n  level: loud\n  format: xml\n", []string{"line 2: log.level", "line 3: log.format"}},
		"not yaml":                {"listen: [\n", []string{"line"}},
		"open redirect login":     {"saml:\n  login_url: //evil.example\n", []string{"saml.login_url"}},
		"budget below request":    {"listen:\n  limits:\n    max_in_flight_bytes: 1048576\n", []string{"line 3: listen.limits.max_in_flight_bytes"}},
		"zero read timeout":       {"listen:\n  limits:\n    http_read_timeout: 0s\n", []string{"line 3: listen.limits.http_read_timeout: must be positive"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
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

func TestParseConfigExpandsEnv(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"PW": "s3cr:et #x", "PREFIX": "p:"}[k]
		return v, ok
	}
	cfg, err := ParseConfig("c.yaml", []byte("sessions:\n  store: redis\n  redis:\n    password: ${PW}\n    prefix: ${PREFIX}$$\n    timeout: 20ms\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sessions.Redis.Password != "s3cr:et #x" || cfg.Sessions.Redis.Prefix != "p:$" || cfg.Sessions.Redis.Timeout != 20*time.Millisecond {
		t.Errorf("got %+v", cfg.Sessions.Redis)
	}
}
