package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
)

// TestServeRotationCap: saml.max_rotations_per_minute reaches the token
// endpoint. With 3, a grant's refresh token rotates three times and the
// fourth rotation within the minute is 429 slow_down (the built-in
// default, 10, would allow it).
func TestServeRotationCap(t *testing.T) {
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	idp := devidp.Start(t, devidp.Config{SPs: []devidp.SP{{EntityID: base + "/saml/metadata", ACSURLs: []string{base + "/saml/acs", base + "/token"}}}})
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	mdFile := filepath.Join(t.TempDir(), "devidp.xml")
	if err := os.WriteFile(mdFile, md, 0o600); err != nil {
		t.Fatal(err)
	}
	startServe(t, fmt.Sprintf("listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:%s\n  shutdown_timeout: 2s\ndecision_log:\n  path: off\n"+
		"sessions:\n  cookie_name: tfgate\nsaml:\n  base_url: %s\n  max_rotations_per_minute: 3\n  idps:\n    - name: dev\n      metadata_file: %s\n", port, base, mdFile))
	_, assertion, err := idp.NewAssertion(devidp.ResponseOptions{User: devidp.DefaultUsers()[0], ACSURL: base + "/token"})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	post := func(form url.Values) (int, map[string]any) {
		t.Helper()
		resp := mustDo(t, c, "POST", base+"/token", form)
		var m map[string]any
		if err := json.Unmarshal([]byte(body(t, resp)), &m); err != nil {
			t.Fatalf("token response: %v", err)
		}
		return resp.StatusCode, m
	}
	code, m := post(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:saml2-bearer"}, "assertion": {assertion}})
	refresh, _ := m["refresh_token"].(string)
	if code != 200 || refresh == "" {
		t.Fatalf("saml2-bearer grant: %d %v", code, m)
	}
	for i := 1; i <= 4; i++ {
		code, m = post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if i <= 3 {
			if code != 200 {
				t.Fatalf("rotation %d: %d %v, want 200", i, code, m)
			}
			refresh = m["refresh_token"].(string)
			continue
		}
		if code != http.StatusTooManyRequests || m["error"] != "slow_down" {
			t.Errorf("rotation %d within the minute: %d %v, want 429 slow_down (max_rotations_per_minute: 3)", i, code, m)
		}
	}
}
