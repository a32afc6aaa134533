package sp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

func TestWhoami(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, c := e.signIn(t, "")
	cookie := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value}) }
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+c.Value) }
	tests := map[string]struct {
		prepare   func(*http.Request)
		status    int
		auth      string
		challenge string
	}{
		"cookie":           {cookie, 200, "cookie", ""},
		"bearer":           {bearer, 200, "bearer", ""},
		"none":             {func(*http.Request) {}, 401, "", `Bearer realm="tfgate"`},
		"unknown cookie":   {func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: "tfg_nope"}) }, 401, "", `Bearer realm="tfgate"`},
		"unknown token":    {func(r *http.Request) { r.Header.Set("Authorization", "Bearer tfg_nope") }, 401, "", `Bearer realm="tfgate", error="invalid_token", error_description="the access token expired or was revoked"`},
		"cookie and token": {func(r *http.Request) { cookie(r); bearer(r) }, 400, "", ""},
		"malformed bearer": {func(r *http.Request) { r.Header.Set("Authorization", "Bearer a b") }, 400, "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("GET", WhoamiPath, nil)
			tc.prepare(req)
			rec := e.do(req)
			mustEqual(t, "status", rec.Code, tc.status)
			mustEqual(t, "Content-Type", rec.Header().Get("Content-Type"), "application/json")
			if tc.status == 401 {
				mustEqual(t, "WWW-Authenticate", rec.Header().Get("WWW-Authenticate"), tc.challenge)
			}
			if tc.status != 200 {
				return
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"subject": fixture.Default().NameID, "email": "alice@example.test", "name": "Alice Example",
				"groups": []any{"ml-readers", "ml-admins"}, "idp": fixture.IdPEntityID, "auth": tc.auth,
				"expires_at": "2026-03-01T20:00:00Z", "session": authz.SessionHandle(c.Value),
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			mustEqual(t, "body", string(gotJSON), string(wantJSON))
			if strings.Contains(rec.Body.String(), c.Value) {
				t.Error("whoami echoes the token")
			}
		})
	}
	t.Run("scoped token", func(t *testing.T) {
		tj := e.cliLogin(t, c, authorizeQuery(func(q url.Values) { q.Set("scope", "model:resnet model:bert:predict") }))
		req := httptest.NewRequest("GET", WhoamiPath, nil)
		req.Header.Set("Authorization", "Bearer "+tj.AccessToken)
		rec := e.do(req)
		mustEqual(t, "status", rec.Code, 200)
		var got struct {
			Scope []string `json:"scope"`
			Auth  string   `json:"auth"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "scope", strings.Join(got.Scope, " "), "model:resnet model:bert:predict")
		mustEqual(t, "auth", got.Auth, "bearer")
	})
	t.Run("expired", func(t *testing.T) {
		e.fake.Advance(8 * time.Hour)
		req := httptest.NewRequest("GET", WhoamiPath, nil)
		cookie(req)
		mustEqual(t, "status", e.do(req).Code, 401)
	})
	t.Run("store down", func(t *testing.T) {
		e.store.failing("Lookup", errStore)
		req := httptest.NewRequest("GET", WhoamiPath, nil)
		cookie(req)
		mustEqual(t, "status", e.do(req).Code, 503)
	})
}
