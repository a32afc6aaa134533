package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/tfpb"
)

// do sends one HTTP/1.1 request to the stack's REST listener; header values
// that are slices go out as separate header lines.
func do(t *testing.T, s *stack, method, target string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.restAddr, strings.NewReader(`{"instances":[1.0]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = target
	req.Header = header
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestCookieInSecondCookieLine: Envoy joins a second HTTP/1.1 Cookie line
// into the CheckRequest with ','. The session cookie there is found (and
// stripped before TF Serving), and next to a bearer token it is the
// ambiguity tfgate refuses with 400.
func TestCookieInSecondCookieLine(t *testing.T) {
	s := startStack(t)
	const path = "/v1/models/half_plus_two/versions/1:predict"
	code, _ := do(t, s, "POST", path, http.Header{"Cookie": {"theme=dark", "__Host-tfgate=" + aliceToken}})
	recs := s.reached()
	if code != 200 || len(recs) != 1 {
		t.Fatalf("status %d, %d reached; want the second line's session cookie to sign alice in", code, len(recs))
	}
	if got := recs[0].Header.Values("Cookie"); len(got) != 1 || got[0] != "theme=dark" {
		t.Errorf("upstream Cookie = %q, want only theme=dark", got)
	}
	code, _ = do(t, s, "POST", path, http.Header{"Authorization": {"Bearer " + bobToken}, "Cookie": {"theme=dark", "__Host-tfgate=" + aliceToken}})
	if n := len(s.reached()); code != http.StatusBadRequest || n != 0 {
		t.Fatalf("bearer plus a cookie in a second line: status %d, %d reached; want 400, nothing forwarded", code, n)
	}
}

// TestIdentityWithControlCharacter: a SAML attribute carrying CR/LF cannot
// become an identity header; with envoy.yaml's validate_mutations Envoy
// would answer a bare 500. tfgate refuses with a 403 that says why.
func TestIdentityWithControlCharacter(t *testing.T) {
	s := startStack(t)
	const token = "tfg_crlf00000000000000000000000000000000000000"
	err := s.store.Create(context.Background(), token, authz.Session{
		Subject: "carol", Email: "carol@example.com\r\nx-tfgate-groups: admins", Groups: []string{"ml-engineers"},
		IdP: "https://idp.test", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, s, "POST", "/v1/models/half_plus_two/versions/1:predict", http.Header{"Authorization": {"Bearer " + token}})
	if n := len(s.reached()); code != http.StatusForbidden || n != 0 || !strings.Contains(body, "email") {
		t.Fatalf("status %d %q, %d reached; want a 403 naming the email attribute", code, body, n)
	}
}

// TestShippedPathHandling: envoy.yaml normalises the path before routing,
// so "/saml/.." cannot reach TF Serving through the unauthenticated /saml/
// route, and escaped slashes are refused before tfgate is asked.
func TestShippedPathHandling(t *testing.T) {
	s := startStack(t)
	bearer := http.Header{"Authorization": {"Bearer " + aliceToken}}
	for target, want := range map[string]int{
		"/saml/../v1/models/half_plus_three:predict":              http.StatusForbidden,
		"/saml/%2e%2e/v1/models/half_plus_two/versions/1:predict": http.StatusOK,
		"/v1//models/half_plus_two/./versions/1:predict":          http.StatusOK,
		"/v1/models/half_plus_two%2Fx:predict":                    http.StatusBadRequest,
	} {
		code, body := do(t, s, "POST", target, bearer)
		recs := s.reached()
		if code != want {
			t.Errorf("%s: status %d %q, want %d", target, code, body, want)
			continue
		}
		if want == http.StatusOK && (len(recs) != 1 || !strings.HasPrefix(recs[0].Path, "/v1/models/half_plus_two")) {
			t.Errorf("%s: reached %+v", target, recs)
		}
		if want != http.StatusOK && len(recs) != 0 {
			t.Errorf("%s: %d requests reached TF Serving", target, len(recs))
		}
	}
}

// TestGRPCWithoutRawBodyDenied: a gRPC listener configured without
// pack_as_bytes sends only the UTF-8-sanitised body, which tfgate never
// reads for gRPC: the call is refused, never authorised from a damaged copy.
func TestGRPCWithoutRawBodyDenied(t *testing.T) {
	s := startStack(t)
	addr := startShippedEnvoyEdited(t, "grpc", s, func(c *envoyConfig) { c.WithRequestBody.PackAsBytes = false })
	conn := dial(t, addr, aliceToken)
	var resp []byte
	err := conn.Invoke(t.Context(), tfpb.MethodPredict, tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two", Version: tfpb.V(1)}, map[string][]float32{"x": {1}}),
		&resp, grpc.ForceCodecV2(tfpb.Codec{}))
	if status.Code(err) != codes.InvalidArgument || len(s.reached()) != 0 {
		t.Fatalf("%v; want INVALID_ARGUMENT and nothing forwarded", err)
	}
}

// TestHeaderCountHeadroom: envoy.yaml's max_headers_count (100) is checked
// again after tfgate's mutations, pseudo-headers and the connection
// manager's own headers included, and Envoy answers 500 when the identity
// headers no longer fit. A request the codec accepted can therefore fail
// after an allow; envoy.yaml documents the headroom.
func TestHeaderCountHeadroom(t *testing.T) {
	s := startStack(t)
	for extra, want := range map[int]int{80: http.StatusOK, 95: http.StatusInternalServerError} {
		h := http.Header{"Authorization": {"Bearer " + aliceToken}}
		for i := range extra {
			h.Set(fmt.Sprintf("X-Pad-%d", i), "v")
		}
		code, _ := do(t, s, "POST", "/v1/models/half_plus_two/versions/1:predict", h)
		if n := len(s.reached()); code != want || (want != http.StatusOK && n != 0) {
			t.Errorf("%d extra headers: status %d, %d reached; want %d", extra, code, n, want)
		}
	}
}
