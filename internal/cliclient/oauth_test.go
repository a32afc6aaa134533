package cliclient

import (
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPKCEAppendixB is RFC 7636 Appendix B: the 32 octets give the
// verifier, and the verifier's S256 challenge is the one printed there.
func TestPKCEAppendixB(t *testing.T) {
	t.Parallel()
	octets := []byte{116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
		22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121}
	const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	if got, err := randomURLString(strings.NewReader(string(octets)), 32); got != verifier || err != nil {
		t.Errorf("verifier %q (%v), want %q", got, err, verifier)
	}
	if got := pkceChallenge(verifier); got != challenge {
		t.Errorf("challenge %q, want %q", got, challenge)
	}
}

func TestRandomURLStringUsesItsReader(t *testing.T) {
	t.Parallel()
	if _, err := randomURLString(strings.NewReader("short"), 32); err == nil {
		t.Error("a short read gave a verifier")
	}
	v, err := randomURLString(strings.NewReader(strings.Repeat("\xff", 32)), 32)
	if err != nil || len(v) != 43 || v != base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 32))) {
		t.Errorf("%q %v", v, err)
	}
}

func TestNormaliseServer(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"trailing slash":    {"https://Serving.Example.com/", "https://serving.example.com"},
		"default port":      {"https://serving.example.com:443", "https://serving.example.com"},
		"http default port": {"http://127.0.0.1:80", "http://127.0.0.1"},
		"other port":        {"http://127.0.0.1:8501", "http://127.0.0.1:8501"},
		"path prefix":       {"https://x.example/tfgate/", "https://x.example/tfgate"},
		"ipv6":              {"http://[::1]:8501", "http://[::1]:8501"},
		"ipv6 no port":      {"https://[::1]", "https://[::1]"},
		"spaces":            {"  https://x.example ", "https://x.example"},
		"not http":          {"ftp://x.example", ""},
		"no scheme":         {"x.example", ""},
		"no host":           {"https:///x", ""},
		"javascript":        {"javascript:alert(1)", ""},
		"query":             {"https://x.example/?a=b", ""},
		"user info":         {"https://u:p@x.example", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := normaliseServer(tc.in)
			if got != tc.want || (tc.want == "") != (err != nil) {
				t.Errorf("normaliseServer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestLoopbackRedirectURIRefusesOthers: the code must only ever be sent to
// this machine.
func TestLoopbackRedirectURIRefusesOthers(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		addr net.Addr
		want string
	}{
		"ipv4 loopback": {&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}, "http://127.0.0.1:4242/callback"},
		"ipv6 loopback": {&net.TCPAddr{IP: net.IPv6loopback, Port: 4242}, "http://[::1]:4242/callback"},
		"any address":   {&net.TCPAddr{IP: net.IPv4zero, Port: 4242}, ""},
		"lan address":   {&net.TCPAddr{IP: net.IPv4(192, 168, 1, 10), Port: 4242}, ""},
		"no port":       {&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, ""},
		"unix socket":   {&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := loopbackRedirectURI(tc.addr)
			if got != tc.want || (tc.want == "" && !errors.Is(err, errNotLoopback)) {
				t.Errorf("loopbackRedirectURI(%v) = %q, %v; want %q", tc.addr, got, err, tc.want)
			}
		})
	}
}

func TestNormaliseScope(t *testing.T) {
	t.Parallel()
	if got := normaliseScope(" model:b  model:a model:b "); got != "model:a model:b" {
		t.Errorf("%q", got)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		handler http.HandlerFunc
		want    string
		oauth   string
	}{
		"oauth error": {func(w http.ResponseWriter, _ *http.Request) {
			oauthFail(w, "invalid_grant", "refresh token\nexpired")
		}, "invalid_grant: refresh token expired", "invalid_grant"},
		"proxy page": {func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, "answered HTTP 502", ""},
		"not a token": {func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"token_type":"Bearer"}`))
		}, "not a token", ""},
		"not bearer": {func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte(`{"access_token":"a","token_type":"mac","expires_in":60}`))
		}, `token_type "mac"`, ""},
		"redirect is not followed": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example/token", http.StatusTemporaryRedirect)
		}, "answered HTTP 307", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			oc := &oauthClient{server: srv.URL, http: newHTTPClient()}
			_, err := oc.refresh(t.Context(), "r", "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var oe *oauthError
			if tc.oauth != "" && (!errors.As(err, &oe) || oe.Code != tc.oauth) {
				t.Errorf("not an oauthError %q: %#v", tc.oauth, err)
			}
		})
	}
}
