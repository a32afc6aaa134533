package authz

import (
	"errors"
	"net/http"
	"testing"
)

func TestExtractCredential(t *testing.T) {
	tests := map[string]struct {
		header  http.Header
		want    Credential
		wantErr error
	}{
		"none":               {http.Header{}, Credential{}, nil},
		"bearer":             {http.Header{"Authorization": {"Bearer tfg_abc-DEF_123"}}, Credential{AuthBearer, "tfg_abc-DEF_123"}, nil},
		"bearer any case":    {http.Header{"Authorization": {"bEaReR tok"}}, Credential{AuthBearer, "tok"}, nil},
		"bearer padding":     {http.Header{"Authorization": {"Bearer abc=="}}, Credential{AuthBearer, "abc=="}, nil},
		"basic is not ours":  {http.Header{"Authorization": {"Basic dXNlcjpwdw=="}}, Credential{}, nil},
		"cookie":             {http.Header{"Cookie": {"a=1; __Host-tfgate=tok; b=2"}}, Credential{AuthCookie, "tok"}, nil},
		"cookie lines":       {http.Header{"Cookie": {"a=1", "__Host-tfgate=tok"}}, Credential{AuthCookie, "tok"}, nil},
		"other cookies only": {http.Header{"Cookie": {"a=1; tfgate=x"}}, Credential{}, nil},
		"both":               {http.Header{"Authorization": {"Bearer t"}, "Cookie": {"__Host-tfgate=c"}}, Credential{}, ErrAmbiguousCredential},
		"two cookies":        {http.Header{"Cookie": {"__Host-tfgate=a; __Host-tfgate=b"}}, Credential{}, ErrAmbiguousCredential},
		"two cookie lines":   {http.Header{"Cookie": {"__Host-tfgate=a", "__Host-tfgate=b"}}, Credential{}, ErrAmbiguousCredential},
		"malformed second":   {http.Header{"Cookie": {"__Host-tfgate=a; __Host-tfgate=\"b c"}}, Credential{}, ErrAmbiguousCredential},
		"joined bearers":     {http.Header{"Authorization": {"Bearer a,Bearer b"}}, Credential{}, ErrAmbiguousCredential},
		"two auth headers":   {http.Header{"Authorization": {"Basic x", "Bearer b"}}, Credential{}, ErrAmbiguousCredential},
		"empty bearer":       {http.Header{"Authorization": {"Bearer "}}, Credential{}, ErrMalformedCredential},
		"bearer with space":  {http.Header{"Authorization": {"Bearer a b"}}, Credential{}, ErrMalformedCredential},
		"bearer only equals": {http.Header{"Authorization": {"Bearer ==="}}, Credential{}, ErrMalformedCredential},
		"bearer non-ascii":   {http.Header{"Authorization": {"Bearer tök"}}, Credential{}, ErrMalformedCredential},
		"empty cookie":       {http.Header{"Cookie": {"__Host-tfgate="}}, Credential{}, ErrMalformedCredential},
		"quoted bad cookie":  {http.Header{"Cookie": {"__Host-tfgate=\"a b\""}}, Credential{}, ErrMalformedCredential},
		"quoted cookie":      {http.Header{"Cookie": {"__Host-tfgate=\"tok\""}}, Credential{AuthCookie, "tok"}, nil},
		// Envoy joins a second HTTP/1.1 Cookie line into the CheckRequest
		// with ",": the cookie after it is seen, counted and stripped.
		"cookie after comma":        {http.Header{"Cookie": {"a=1,__Host-tfgate=tok"}}, Credential{AuthCookie, "tok"}, nil},
		"bearer and comma cookie":   {http.Header{"Authorization": {"Bearer t"}, "Cookie": {"a=1,__Host-tfgate=c"}}, Credential{}, ErrAmbiguousCredential},
		"two cookies, comma joined": {http.Header{"Cookie": {"__Host-tfgate=a; x=1,__Host-tfgate=b"}}, Credential{}, ErrAmbiguousCredential},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ExtractCredential(tc.header, DefaultCookieName)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("credential = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStripCookie(t *testing.T) {
	tests := map[string]struct {
		in, want string
		rest     bool
	}{
		"only ours":  {"__Host-tfgate=x", "", false},
		"middle":     {"a=1; __Host-tfgate=x; b=\"q\"", "a=1; b=\"q\"", true},
		"none":       {"a=1;b=2", "a=1; b=2", true},
		"lookalike":  {"__Host-tfgate2=y; x__Host-tfgate=z", "__Host-tfgate2=y; x__Host-tfgate=z", true},
		"empty bits": {";;__Host-tfgate=x;", "", false},
		"comma line": {"a=1; b=2,__Host-tfgate=x", "a=1; b=2", true},
		"comma kept": {"list=a,b; __Host-tfgate=x", "list=a,b", true},
		"ours first": {"__Host-tfgate=x,b=2;c=3", "b=2; c=3", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, rest := StripCookie(tc.in, DefaultCookieName)
			if got != tc.want || rest != tc.rest {
				t.Errorf("StripCookie(%q) = %q, %v; want %q, %v", tc.in, got, rest, tc.want, tc.rest)
			}
		})
	}
}

func FuzzExtractCredential(f *testing.F) {
	f.Add("Bearer abc", "")
	f.Add("", "a=1; __Host-tfgate=tok")
	f.Add("Bearer a,Bearer b", "__Host-tfgate=x")
	f.Add("Basic x", "__Host-tfgate=\"a b\"; __Host-tfgate=c")
	f.Add("", "a=1,__Host-tfgate=tok")
	f.Add("Bearer t", "x=\"1\",__Host-tfgate=\"tok\";y")
	f.Fuzz(func(t *testing.T, auth, cookie string) {
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		if cookie != "" {
			h.Set("Cookie", cookie)
		}
		c, err := ExtractCredential(h, DefaultCookieName)
		if err != nil {
			if c != (Credential{}) {
				t.Fatalf("credential %+v returned with error %v", c, err)
			}
			return
		}
		if (c.Kind == "") != (c.Token == "") {
			t.Fatalf("inconsistent credential %+v", c)
		}
		if c.Kind == AuthCookie {
			// The cookie we accepted must be gone from what goes upstream.
			rest, _ := StripCookie(cookie, DefaultCookieName)
			if _, err := ExtractCredential(http.Header{"Cookie": {rest}}, DefaultCookieName); err != nil {
				t.Fatalf("stripped cookie header still has a credential problem: %v", err)
			}
			if c2, _ := ExtractCredential(http.Header{"Cookie": {rest}}, DefaultCookieName); c2.Kind != "" {
				t.Fatalf("stripped cookie header %q still carries the session cookie", rest)
			}
		}
	})
}
