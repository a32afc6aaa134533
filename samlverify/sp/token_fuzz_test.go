package sp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// FuzzTokenForm posts arbitrary bodies to the token endpoint. Errors are
// expected; the invariants are no panic, never a 200 (no seed carries a
// usable grant, and no mutation can forge one), and always an RFC 6749
// error object.
func FuzzTokenForm(f *testing.F) {
	e := newEnv(f)
	wrongAudience := bareAssertion(f, func(p *fixture.Params) { p.Audiences = []string{"https://other.example"} })
	seeds := []url.Values{
		{"grant_type": {GrantAuthorizationCode}, "code": {strings.Repeat("A", 43)}, "code_verifier": {testVerifier}, "redirect_uri": {cliRedirect}},
		{"grant_type": {GrantRefreshToken}, "refresh_token": {RefreshTokenPrefix + strings.Repeat("B", 43)}, "scope": {"model:resnet* model:bert:predict"}},
		{"grant_type": {GrantSAML2Bearer}, "assertion": {wrongAudience}, "scope": {"model:m"}},
		{"grant_type": {GrantSAML2Bearer}, "assertion": {"PHNhbWw6QXNzZXJ0aW9uLz4"}},
		{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}},
		{"grant_type": {GrantRefreshToken, GrantRefreshToken}},
	}
	for _, s := range seeds {
		f.Add(s.Encode(), "application/x-www-form-urlencoded")
	}
	f.Add("grant_type=%zz;a=b", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("", "")
	f.Add(`{"grant_type":"refresh_token"}`, "application/json")
	h := e.h.TokenHandler()
	f.Fuzz(func(t *testing.T, body, ctype string) {
		req := httptest.NewRequest("POST", TokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			t.Fatalf("a token for garbage: %q -> %s", body, rec.Body)
		}
		var m map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["error"] == "" {
			t.Fatalf("%d, not an RFC 6749 error: %s", rec.Code, rec.Body)
		}
	})
}
