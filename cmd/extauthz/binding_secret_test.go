package main

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
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
	portA := freePort(t)
	base := "http://127.0.0.1:" + portA
	idp := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: base + "/saml/metadata", ACSURLs: []string{base + "/saml/acs"}}}})
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	mdFile := filepath.Join(t.TempDir(), "devidp.xml")
	if err := os.WriteFile(mdFile, md, 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(port, secret string) string {
		return fmt.Sprintf("listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:%s\n  shutdown_timeout: 2s\ndecision_log:\n  path: off\n"+
			"sessions:\n  cookie_name: tfgate\nsaml:\n  base_url: %s\n%s  idps:\n    - name: dev\n      metadata_file: %s\n", port, base, secret, mdFile)
	}
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
