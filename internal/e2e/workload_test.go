package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/health"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/authz/session"
	"github.com/tfgate/tfgate/envoy"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/envoyemu"
	"github.com/tfgate/tfgate/internal/redistest"
	"github.com/tfgate/tfgate/internal/tfservingstandin"
	"github.com/tfgate/tfgate/kubejwt"
	"github.com/tfgate/tfgate/rego"
	"github.com/tfgate/tfgate/samlverify"
	"github.com/tfgate/tfgate/samlverify/sp"
)

// Workload identities of the tests: the scorer calls over mesh mTLS and is
// granted by id (subject_grants); the trainer exchanges its service-account
// token and is granted through the group workload_identity.groups gives it.
const (
	scorerSPIFFE = "spiffe://cluster.local/ns/batch/sa/scorer"
	trainerSA    = "system:serviceaccount:batch:trainer"
	k8sIssuer    = "https://kubernetes.default.svc.cluster.local"
)

const workloadGrants = `
tfgate:
  grants:
    batch-ml:
      - models: [half_plus_two]
        versions: ["*"]
        labels: ["*"]
        apis: [predict]
  subject_grants:
    "spiffe://cluster.local/ns/batch/sa/scorer":
      - models: [half_plus_two]
        versions: ["*"]
        labels: ["*"]
        apis: [predict]
  admin_groups: []
`

// workloadGroups is workload_identity.groups of the tests.
var workloadGroups = map[string][]string{"system:serviceaccount:batch:trainer": {"batch-ml"}}

// workloadStack is tfgate in a mesh: a "sidecar" Envoy whose downstream
// peer is the scorer over mTLS (source.principal set), and a plain Envoy
// (no client certificate) in front of /token and TF Serving for the
// trainer, which exchanges a service-account token signed by a cluster
// issuer whose discovery document and JWKS the test serves.
type workloadStack struct {
	tfs       *tfservingstandin.Server
	sidecar   string // Envoy with the scorer as mTLS peer
	plain     string // Envoy without mTLS
	issuerKey *rsa.PrivateKey
	audit     *lockedBuffer
	auditLog  *authz.DecisionLog
	tokenLogs *lockedBuffer
}

func startWorkloadStack(t *testing.T) *workloadStack {
	t.Helper()
	s := &workloadStack{tfs: tfservingstandin.Start(t), audit: &lockedBuffer{}, tokenLogs: &lockedBuffer{}}
	store, err := session.NewRedis(redistest.Start(t).Client(), session.RedisConfig{Prefix: "tfgate:"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("../../rego/policies/tfgate.rego")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tfgate.rego": src, "data.yaml": []byte(workloadGrants)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	policy, err := rego.New(context.Background(), rego.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	authorizer, err := authz.New(authz.Config{Sessions: store, Policy: policy, Peers: &authz.PeerIdentity{
		TrustDomains: []string{"cluster.local"}, Exclude: []string{"spiffe://*/ns/istio-system/sa/*"}, Groups: workloadGroups,
	}})
	if err != nil {
		t.Fatal(err)
	}
	s.auditLog = authz.NewDecisionLog(s.audit)
	t.Cleanup(func() { s.auditLog.Close() })
	checkSrv, err := envoy.NewServer(envoy.Config{Checker: authorizer, Decisions: s.auditLog})
	if err != nil {
		t.Fatal(err)
	}
	client := serveGRPC(t, envoy.NewGRPCServer(checkSrv, health.NewServer()))

	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tfgateHTTP := &url.URL{Scheme: "http", Host: httpLn.Addr().String()}
	_, s.sidecar = envoyemu.Start(t, envoyemu.Config{
		Routes:          []envoyemu.Route{{Prefix: "/", Upstream: s.tfs.RESTURL()}},
		Authz:           client,
		Timeout:         5 * time.Second,
		SourcePrincipal: func(*http.Request) string { return scorerSPIFFE },
	})
	_, s.plain = envoyemu.Start(t, envoyemu.Config{
		Routes: []envoyemu.Route{
			{Prefix: "/token", Upstream: tfgateHTTP, DisableAuthz: true},
			{Prefix: "/", Upstream: s.tfs.RESTURL()},
		},
		Authz:   client,
		Timeout: 5 * time.Second,
	})

	h := s.newSP(t, store, "http://"+s.plain)
	srv := &http.Server{
		Handler:           envoy.NewHTTPHandler(envoy.HTTPConfig{Mount: map[string]http.Handler{sp.TokenPath: h.TokenHandler(), sp.RevokePath: h.TokenHandler()}}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(httpLn) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// newSP builds the SP with the service-account token exchange, wired as
// cmd/extauthz wires it (workload.go's serviceAccounts, repeated here: it
// lives in package main).
func (s *workloadStack) newSP(t *testing.T, store *session.Redis, base string) *sp.Handler {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.issuerKey = key
	var jwksURL string
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": k8sIssuer, "jwks_uri": jwksURL})
	})
	mux.HandleFunc("/openid/v1/jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	issuer := httptest.NewServer(mux)
	t.Cleanup(issuer.Close)
	jwksURL = issuer.URL + "/openid/v1/jwks"
	verifier, err := kubejwt.New(kubejwt.Config{
		Issuer: k8sIssuer, Audiences: []string{"tfgate"}, DiscoveryURL: issuer.URL + "/.well-known/openid-configuration",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}

	dev := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: base + sp.MetadataPath, ACSURLs: []string{base + sp.ACSPath}}}})
	md, err := dev.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	idps := idpSet(t, md)
	v, err := samlverify.New(samlverify.Config{SPEntityID: base + sp.MetadataPath, ACSURL: base + sp.ACSPath}, idps, store)
	if err != nil {
		t.Fatal(err)
	}
	h, err := sp.New(sp.Config{
		BaseURL: base, Verifier: v, IdPs: idps, Sessions: store, Tokens: store,
		CookieName: samlCookie, Insecure: true, Exchange: &saExchanger{verifier},
		Logger: slog.New(slog.NewTextHandler(s.tokenLogs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// saExchanger is cmd/extauthz's serviceAccounts.
type saExchanger struct{ v *kubejwt.Verifier }

func (e *saExchanger) Exchange(ctx context.Context, tok string) (authz.Session, error) {
	sa, err := e.v.Verify(ctx, tok)
	if errors.Is(err, kubejwt.ErrUnavailable) {
		return authz.Session{}, errors.Join(sp.ErrExchangeUnavailable, err)
	}
	if err != nil {
		return authz.Session{}, err
	}
	return authz.Session{Subject: sa.Subject, Groups: workloadGroups[sa.Subject], IdP: sa.Issuer, Auth: authz.AuthK8s, ExpiresAt: sa.Expiry}, nil
}

// saToken is a projected service-account token as the kubelet mounts it.
func (s *workloadStack) saToken(t *testing.T, sub, aud string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.issuerKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	ns, name := "batch", strings.TrimPrefix(sub, "system:serviceaccount:batch:")
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: k8sIssuer, Subject: sub, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
		NotBefore: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
	}).Claims(map[string]any{"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]any{"name": name}}}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// predict calls model's predict through the Envoy at addr.
func predict(t *testing.T, addr, model, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/models/"+model+":predict", strings.NewReader(`{"instances": [1.0]}`))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	// A client cannot claim a workload identity or a user with headers.
	req.Header.Set("X-Tfgate-User", "root")
	req.Header.Set("X-Forwarded-Client-Cert", "URI="+scorerSPIFFE)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *workloadStack) decisions(t *testing.T) []authz.DecisionRecord {
	t.Helper()
	if err := s.auditLog.Flush(); err != nil {
		t.Fatal(err)
	}
	var out []authz.DecisionRecord
	for line := range strings.SplitSeq(strings.TrimSpace(s.audit.String()), "\n") {
		var r authz.DecisionRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("decision log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestMTLSWorkload: the scorer, identified only by the mesh's
// source.principal, reaches TF Serving as itself for the model its grant
// covers, and is refused another.
func TestMTLSWorkload(t *testing.T) {
	s := startWorkloadStack(t)
	status, body := predict(t, s.sidecar, "half_plus_two", "")
	if status != 200 {
		t.Fatalf("scorer predict: %d %s", status, body)
	}
	recs := s.tfs.Requests()
	if len(recs) != 1 || recs[0].Header.Get("X-Tfgate-User") != scorerSPIFFE || len(recs[0].Header.Values("X-Tfgate-User")) != 1 {
		t.Fatalf("upstream saw %+v", recs)
	}
	s.tfs.Reset()
	if status, body := predict(t, s.sidecar, "half_plus_three", ""); status != 403 || !strings.Contains(body, "half_plus_three") {
		t.Fatalf("scorer, another model: %d %s", status, body)
	}
	// The same request without mTLS is anonymous, whatever its headers say.
	if status, _ := predict(t, s.plain, "half_plus_two", ""); status != 401 {
		t.Fatalf("no mTLS: %d, want 401", status)
	}
	if n := len(s.tfs.Requests()); n != 0 {
		t.Fatalf("%d refused requests reached TF Serving", n)
	}
	recs2 := s.decisions(t)
	if len(recs2) != 3 || recs2[0].Auth != authz.AuthMTLS || recs2[0].Subject != scorerSPIFFE || !recs2[0].Allow ||
		recs2[1].Auth != authz.AuthMTLS || recs2[1].Allow || recs2[2].Subject != "" {
		t.Fatalf("decision log: %+v", recs2)
	}
}

// TestServiceAccountTokenExchange: the trainer exchanges its projected
// service-account token at /token (RFC 8693) and calls TF Serving with the
// tfg_ token it gets: as itself for the model its group covers, refused
// for another; bad subject tokens get no tfgate token.
func TestServiceAccountTokenExchange(t *testing.T) {
	s := startWorkloadStack(t)
	exchange := func(subject string) (int, map[string]any) {
		resp, err := http.PostForm("http://"+s.plain+sp.TokenPath, url.Values{
			"grant_type": {sp.GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {sp.TokenTypeJWT},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	subject := s.saToken(t, trainerSA, "tfgate", time.Now().Add(time.Hour))
	status, m := exchange(subject)
	access, _ := m["access_token"].(string)
	if status != 200 || !strings.HasPrefix(access, authz.TokenPrefix) || m["issued_token_type"] != sp.TokenTypeAccessToken {
		t.Fatalf("exchange: %d %v", status, m)
	}
	if status, body := predict(t, s.plain, "half_plus_two", access); status != 200 {
		t.Fatalf("trainer predict: %d %s", status, body)
	}
	recs := s.tfs.Requests()
	if len(recs) != 1 || recs[0].Header.Get("X-Tfgate-User") != trainerSA || recs[0].Header.Get("X-Tfgate-Groups") != `"batch-ml"` ||
		recs[0].Header.Get("Authorization") != "" {
		t.Fatalf("upstream saw %+v", recs)
	}
	s.tfs.Reset()
	if status, body := predict(t, s.plain, "half_plus_three", access); status != 403 {
		t.Fatalf("trainer, another model: %d %s", status, body)
	}
	d := s.decisions(t)
	if len(d) != 2 || d[0].Auth != authz.AuthK8s || d[0].Subject != trainerSA || !d[0].Allow || d[1].Auth != authz.AuthK8s || d[1].Allow {
		t.Fatalf("decision log: %+v", d)
	}
	if strings.Contains(s.tokenLogs.String(), access) || strings.Contains(s.tokenLogs.String(), subject) {
		t.Fatal("a token reached the log")
	}

	for name, bad := range map[string]string{
		"wrong audience": s.saToken(t, trainerSA, "https://kubernetes.default.svc", time.Now().Add(time.Hour)),
		"expired":        s.saToken(t, trainerSA, "tfgate", time.Now().Add(-time.Hour)),
		"garbage":        "not-a-token",
	} {
		if status, m := exchange(bad); status != 400 || m["error"] != "invalid_grant" || m["access_token"] != nil {
			t.Errorf("%s: %d %v", name, status, m)
		}
	}
	if n := len(s.tfs.Requests()); n != 0 {
		t.Fatalf("%d refused requests reached TF Serving", n)
	}
}
