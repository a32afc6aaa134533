package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

func testPeers() *PeerIdentity {
	return &PeerIdentity{
		TrustDomains: []string{"cluster.local"},
		Exclude:      []string{"spiffe://cluster.local/ns/istio-system/sa/*"},
		Groups: map[string][]string{
			"spiffe://cluster.local/ns/batch/sa/scorer": {"ml"},
			"spiffe://cluster.local/ns/batch/sa/*":      {"batch", "ml"},
		},
	}
}

func TestPeerIdentitySubject(t *testing.T) {
	p := testPeers()
	tests := map[string]struct {
		principal string
		ok        bool
		groups    []string
	}{
		"mapped":                    {"spiffe://cluster.local/ns/batch/sa/scorer", true, []string{"batch", "ml"}},
		"pattern only":              {"spiffe://cluster.local/ns/batch/sa/other", true, []string{"batch", "ml"}},
		"trusted, no groups":        {"spiffe://cluster.local/ns/web/sa/front", true, []string{}},
		"excluded gateway":          {"spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account", false, nil},
		"other trust domain":        {"spiffe://evil.example/ns/batch/sa/scorer", false, nil},
		"trust domain prefix trick": {"spiffe://cluster.local.evil/ns/batch/sa/scorer", false, nil},
		"not spiffe":                {"CN=scorer,O=batch", false, nil},
		"dot segment":               {"spiffe://cluster.local/ns/batch/sa/../../web/sa/x", false, nil},
		"empty segment":             {"spiffe://cluster.local/ns//sa/x", false, nil},
		"no path":                   {"spiffe://cluster.local", false, nil},
		"port":                      {"spiffe://cluster.local:443/ns/a/sa/b", false, nil},
		"query":                     {"spiffe://cluster.local/ns/a/sa/b?x=1", false, nil},
		"upper-case trust domain":   {"spiffe://Cluster.Local/ns/a/sa/b", false, nil},
		"empty":                     {"", false, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, ok := p.Subject(tc.principal)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if s.ID != tc.principal || s.Auth != AuthMTLS || s.IdP != "spiffe://cluster.local" || !slices.Equal(s.Groups, tc.groups) {
				t.Fatalf("got %+v", s)
			}
		})
	}
}

func TestPeerIdentityValidate(t *testing.T) {
	for name, p := range map[string]PeerIdentity{
		"no trust domain":     {},
		"bad trust domain":    {TrustDomains: []string{"Cluster.Local"}},
		"bad exclude pattern": {TrustDomains: []string{"cluster.local"}, Exclude: []string{"["}},
		"bad groups pattern":  {TrustDomains: []string{"cluster.local"}, Groups: map[string][]string{"[": {"g"}}},
	} {
		if err := p.Validate(); !errors.Is(err, ErrPeerConfig) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestCheckMTLSPeer(t *testing.T) {
	store := &fakeStore{sessions: map[string]Session{"tfg_tok": session("other")}}
	a, err := New(Config{Sessions: store, Policy: &fakePolicy{}, Now: func() time.Time { return testNow }, Peers: testPeers()})
	if err != nil {
		t.Fatal(err)
	}
	req := func(principal string, h http.Header) *Request {
		if h == nil {
			h = http.Header{}
		}
		return &Request{Method: "POST", Path: "/v1/models/m:predict", Header: h, SourcePrincipal: principal}
	}
	scorer := "spiffe://cluster.local/ns/batch/sa/scorer"
	tests := map[string]struct {
		r     *Request
		allow bool
		auth  string
	}{
		"workload with a grant":       {req(scorer, nil), true, AuthMTLS},
		"workload without a grant":    {req("spiffe://cluster.local/ns/web/sa/front", nil), false, AuthMTLS},
		"gateway stays anonymous":     {req("spiffe://cluster.local/ns/istio-system/sa/gw", nil), false, ""},
		"bearer wins over the peer":   {req(scorer, http.Header{"Authorization": {"Bearer tfg_tok"}}), false, AuthBearer},
		"unknown bearer, no fallback": {req(scorer, http.Header{"Authorization": {"Bearer tfg_nope"}}), false, ""},
		// A header naming a principal is the client's word, not Envoy's.
		"header is not an identity": {req("", http.Header{"X-Forwarded-Client-Cert": {"URI=" + scorer}}), false, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := a.Check(context.Background(), tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tc.allow {
				t.Fatalf("allow = %v (%s), want %v", d.Allow, d.Reason, tc.allow)
			}
			got := ""
			if d.Subject != nil {
				got = d.Subject.Auth
			}
			if got != tc.auth {
				t.Fatalf("auth = %q, want %q", got, tc.auth)
			}
			if tc.allow && headerValue(d.Set, HeaderUser) != scorer {
				t.Fatalf("x-tfgate-user = %q", headerValue(d.Set, HeaderUser))
			}
		})
	}
}

func TestCheckK8sTokenAuth(t *testing.T) {
	s := session("ml")
	s.Auth = AuthK8s
	store := &fakeStore{sessions: map[string]Session{"tfg_k8s": s}}
	a := newTestAuthorizer(t, store, &fakePolicy{})
	d, err := a.Check(context.Background(), &Request{Method: "POST", Path: "/v1/models/m:predict",
		Header: http.Header{"Authorization": {"Bearer tfg_k8s"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || d.Subject.Auth != AuthK8s {
		t.Fatalf("allow=%v auth=%q", d.Allow, d.Subject.Auth)
	}
	// The same session presented as a cookie is not a k8s credential.
	d, err = a.Check(context.Background(), &Request{Method: "POST", Path: "/v1/models/m:predict",
		Header: http.Header{"Cookie": {DefaultCookieName + "=tfg_k8s"}}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject.Auth != AuthCookie {
		t.Fatalf("auth = %q for a cookie", d.Subject.Auth)
	}
}

func headerValue(hs []Header, name string) string {
	for _, h := range hs {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}
