package main

import (
	"slices"
	"strings"
	"testing"
)

func TestWorkloadIdentityConfigProblems(t *testing.T) {
	tests := map[string]struct {
		yaml string
		want string
	}{
		"bad trust domain":  {"workload_identity:\n  mtls:\n    trust_domains: [Cluster.Local]\n", "workload_identity.mtls"},
		"bad group pattern": {"workload_identity:\n  groups:\n    \"[\": [g]\n", "workload_identity.groups"},
		"no key source":     {"workload_identity:\n  kubernetes:\n    issuer: https://k\n", "exactly one of"},
		"two key sources": {"workload_identity:\n  kubernetes:\n    issuer: https://k\n    jwks_file: /x\n    jwks_url: https://k/jwks\n",
			"exactly one of"},
		"no audience":   {"workload_identity:\n  kubernetes:\n    issuer: https://k\n    jwks_file: /x\n    audiences: []\n", "audiences"},
		"unknown field": {"workload_identity:\n  mtls:\n    trust_domain: [cluster.local]\n", "trust_domain"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig("x.yaml", []byte(tc.yaml), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a problem mentioning %q", err, tc.want)
			}
		})
	}
	ok := "workload_identity:\n  groups:\n    \"spiffe://cluster.local/ns/batch/sa/*\": [batch]\n" +
		"  mtls:\n    trust_domains: [cluster.local]\n  kubernetes:\n    issuer: https://k\n    jwks_file: /x\n"
	cfg, err := ParseConfig("x.yaml", []byte(ok), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.WorkloadIdentity.peers(); p == nil || !slices.Equal(p.TrustDomains, []string{"cluster.local"}) {
		t.Fatalf("peers = %+v", p)
	}
}

func TestGroupsFor(t *testing.T) {
	m := map[string][]string{
		"system:serviceaccount:batch:*":      {"batch", "ml"},
		"system:serviceaccount:batch:scorer": {"ml", "scorers"},
		"system:serviceaccount:web:*":        {"web"},
	}
	if got := groupsFor(m, "system:serviceaccount:batch:scorer"); !slices.Equal(got, []string{"batch", "ml", "scorers"}) {
		t.Fatalf("got %v", got)
	}
	if got := groupsFor(m, "system:serviceaccount:prod:x"); got != nil {
		t.Fatalf("got %v", got)
	}
}
