package main

import (
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
)

// TestServeBindingSecretFromEnv: two replicas behind one base_url whose
// configs read saml.binding_secret from the environment
// ("${TFGATE_BINDING_SECRET}", as the Helm chart renders it from a
// Secret) finish each other's sign-ins: one starts at /saml/login on the
// first, the IdP's answer is posted to the second's ACS. Without the
// shared secret (each process makes a random one) the same sign-in fails.
// Not parallel: it sets the environment.
func TestServeBindingSecretFromEnv(t *testing.T) {
	t.Setenv("TFGATE_BINDING_SECRET", "0123456789abcdef0123456789abcdef-test-only")
	f := newSAMLServe(t)
	portA, base, idp := f.port, f.base, f.idp
	config := func(port, secret string) string { return f.config(port, secret, "") }
	for _, tc := range []struct {
		name, secret string
		want         int
	}{
		{"shared secret from the environment", "  binding_secret: \"${TFGATE_BINDING_SECRET}\"\n", http.StatusSeeOther},
		{"a random secret per process", "", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, stopA := startServe(t, config(portA, tc.secret))
			defer stopA()
			_, addrB, stopB := startServe(t, config("0", tc.secret))
			defer stopB()
			jar, _ := cookiejar.New(nil) // cookies ignore ports: both replicas get them
			c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp := mustDo(t, c, "GET", base+"/saml/login?idp=dev&return_to=%2Fv1%2Fmodels%2Fm", nil)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != 302 || !strings.HasPrefix(loc, idp.SSOURL()+"?SAMLRequest=") {
				t.Fatalf("login at the first replica: %d %q", resp.StatusCode, loc)
			}
			form := hiddenInputs(body(t, mustDo(t, c, "GET", loc, nil)))
			form.Set("user", "alice")
			page := body(t, mustDo(t, c, "POST", idp.BaseURL()+devidp.LoginPath, form))
			resp = mustDo(t, c, "POST", "http://"+addrB+"/saml/acs", hiddenInputs(page))
			if resp.StatusCode != tc.want {
				t.Errorf("ACS at the second replica: %d, want %d\n%s", resp.StatusCode, tc.want, body(t, resp))
			}
		})
	}
}
