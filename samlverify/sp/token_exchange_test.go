package sp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/samlverify"
)

// fakeExchanger accepts the subject token "good" (and "short", which
// expires in two minutes); "down" is an issuer that cannot be reached.
type fakeExchanger struct{ now func() time.Time }

func (f fakeExchanger) Exchange(_ context.Context, tok string) (authz.Session, error) {
	s := authz.Session{
		Subject: "system:serviceaccount:batch:scorer", Groups: []string{"ml"},
		IdP: "https://kubernetes.default.svc", Auth: authz.AuthK8s, ExpiresAt: f.now().Add(time.Hour),
	}
	switch tok {
	case "good":
		return s, nil
	case "short":
		s.ExpiresAt = f.now().Add(2 * time.Minute)
		return s, nil
	case "down":
		return authz.Session{}, fmt.Errorf("%w: fetching keys", ErrExchangeUnavailable)
	}
	return authz.Session{}, errors.New("the token has expired")
}

func exchangeEnv(tb testing.TB) *env {
	return newEnv(tb, func(c *Config, _ *[]*samlverify.IdP) { c.Exchange = fakeExchanger{now: c.Now} })
}

func exchangeForm(subject string, mods ...func(url.Values)) url.Values {
	f := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subject}, "subject_token_type": {TokenTypeJWT}}
	for _, m := range mods {
		m(f)
	}
	return f
}

func TestTokenExchange(t *testing.T) {
	e := exchangeEnv(t)
	rec := e.postForm(TokenPath, exchangeForm("good", func(f url.Values) {
		f.Set("requested_token_type", TokenTypeAccessToken)
		f.Set("scope", "model:resnet")
	}))
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	checkTokenHeaders(t, rec)
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["issued_token_type"] != TokenTypeAccessToken || got["token_type"] != "Bearer" || got["scope"] != "model:resnet" {
		t.Fatalf("answer %s", rec.Body)
	}
	if _, ok := got["refresh_token"]; ok {
		t.Fatal("token exchange must not hand out a refresh token")
	}
	tok, _ := got["access_token"].(string)
	s, err := e.store.Lookup(context.Background(), tok)
	if err != nil {
		t.Fatalf("issued token names no session: %v", err)
	}
	if s.Subject != "system:serviceaccount:batch:scorer" || s.Auth != authz.AuthK8s || !slices.Equal(s.Groups, []string{"ml"}) ||
		!slices.Equal(s.Scope, []string{"model:resnet"}) {
		t.Fatalf("session %+v", s)
	}
	if strings.Contains(e.logs.String(), tok) {
		t.Fatal("the log holds the access token")
	}
}

func TestTokenExchangeEndsWithTheSubjectToken(t *testing.T) {
	e := exchangeEnv(t)
	rec := e.postForm(TokenPath, exchangeForm("short"))
	var got struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if rec.Code != 200 || got.ExpiresIn != 120 {
		t.Fatalf("%d %s: want expires_in 120", rec.Code, rec.Body)
	}
}

func TestTokenExchangeRefuses(t *testing.T) {
	e := exchangeEnv(t)
	tests := map[string]struct {
		form   url.Values
		status int
		code   string
	}{
		"invalid subject token": {exchangeForm("bad"), 400, errInvalidGrant},
		"issuer unavailable":    {exchangeForm("down"), 503, errUnavailableCode},
		"no subject token":      {exchangeForm(""), 400, errInvalidRequest},
		"wrong subject type": {exchangeForm("good", func(f url.Values) {
			f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:saml2")
		}), 400, errInvalidRequest},
		"wrong requested type": {exchangeForm("good", func(f url.Values) {
			f.Set("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")
		}), 400, errInvalidRequest},
		"actor token": {exchangeForm("good", func(f url.Values) { f.Set("actor_token", "x") }), 400, errInvalidRequest},
		"bad scope":   {exchangeForm("good", func(f url.Values) { f.Set("scope", "admin") }), 400, errInvalidScope},
		"twice":       {exchangeForm("good", func(f url.Values) { f.Add("subject_token", "good") }), 400, errInvalidRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, _ := oauthErrorOf(t, e.postForm(TokenPath, tc.form), tc.status)
			if code != tc.code {
				t.Fatalf("error %q, want %q", code, tc.code)
			}
		})
	}
}

func TestTokenExchangeUnconfigured(t *testing.T) {
	e := newEnv(t)
	code, desc := oauthErrorOf(t, e.postForm(TokenPath, exchangeForm("good")), 400)
	if code != errUnsupportedGrantType || !strings.Contains(desc, "not configured") {
		t.Fatalf("%s: %s", code, desc)
	}
}
