package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
)

// TestServeRotationCap: saml.max_rotations_per_minute reaches the token
// endpoint. With 3, a grant's refresh token rotates three times and the
// fourth rotation within the minute is 429 slow_down (the built-in
// default, 10, would allow it).
func TestServeRotationCap(t *testing.T) {
	f := newSAMLServe(t, "/token")
	base, idp := f.base, f.idp
	startServe(t, f.config(f.port, "  max_rotations_per_minute: 3\n", ""))
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
