package sp

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestReturnTo(t *testing.T) {
	t.Parallel()
	secure := newReturnTo("https://serving.example.com", []string{"notebooks.example.com", "Apps.Example.com:8443"}, false)
	dev := newReturnTo("http://127.0.0.1:8080", []string{"localhost:3000"}, true)
	tests := map[string]struct {
		rt   returnTo
		in   string
		want string // "" means refused
	}{
		"empty is root":                  {secure, "", "/"},
		"root":                           {secure, "/", "/"},
		"model path":                     {secure, "/v1/models/half_plus_two/versions/1", "/v1/models/half_plus_two/versions/1"},
		"path with query and fragment":   {secure, "/v1/models/m?x=1&y=%2F#top", "/v1/models/m?x=1&y=%2F#top"},
		"encoded slashes stay a path":    {secure, "/%2F%2Fevil.example", "/%2F%2Fevil.example"},
		"own origin absolute":            {secure, "https://serving.example.com/v1/models/m", "https://serving.example.com/v1/models/m"},
		"own origin, host case":          {secure, "https://SERVING.example.com/x", "https://SERVING.example.com/x"},
		"allow-listed host":              {secure, "https://notebooks.example.com/lab?x=1", "https://notebooks.example.com/lab?x=1"},
		"allow-listed host:port":         {secure, "https://apps.example.com:8443/", "https://apps.example.com:8443/"},
		"allow-listed saml path is ok":   {secure, "https://notebooks.example.com/saml/login", "https://notebooks.example.com/saml/login"},
		"dev http allow-listed":          {dev, "http://localhost:3000/x", "http://localhost:3000/x"},
		"dev own origin":                 {dev, "http://127.0.0.1:8080/v1/models/m", "http://127.0.0.1:8080/v1/models/m"},
		"protocol-relative":              {secure, "//evil.example/x", ""},
		"protocol-relative triple":       {secure, "///evil.example", ""},
		"backslash host":                 {secure, "/\\evil.example", ""},
		"backslash anywhere":             {secure, "/v1\\..\\x", ""},
		"tab turns into //":              {secure, "/\t/evil.example", ""},
		"newline":                        {secure, "/\n/evil.example", ""},
		"carriage return":                {secure, "/x\r\nSet-Cookie: a=b", ""},
		"nul":                            {secure, "/x\x00", ""},
		"space":                          {secure, "/ /evil.example", ""},
		"del":                            {secure, "/x\x7f", ""},
		"non-ASCII":                      {secure, "/\u3000/evil.example", ""},
		"leading space":                  {secure, " /x", ""},
		"javascript scheme":              {secure, "javascript:alert(1)", ""},
		"javascript path-like":           {secure, "javascript://serving.example.com/%0aalert(1)", ""},
		"data scheme":                    {secure, "data:text/html,x", ""},
		"relative without slash":         {secure, "evil.example", ""},
		"dot relative":                   {secure, "./x", ""},
		"other host":                     {secure, "https://evil.example/", ""},
		"suffix of allowed host":         {secure, "https://evilnotebooks.example.com/", ""},
		"allowed host as subdomain":      {secure, "https://notebooks.example.com.evil.example/", ""},
		"userinfo trick":                 {secure, "https://serving.example.com@evil.example/", ""},
		"userinfo on own host":           {secure, "https://user@serving.example.com/", ""},
		"http on allow-listed host":      {secure, "http://notebooks.example.com/", ""},
		"http on own host when secure":   {secure, "http://serving.example.com/", ""},
		"allowed host wrong port":        {secure, "https://notebooks.example.com:444/", ""},
		"ftp":                            {secure, "ftp://notebooks.example.com/", ""},
		"scheme without slashes":         {secure, "https:evil.example", ""},
		"own login would loop":           {secure, "/saml/login?return_to=/", ""},
		"own acs":                        {secure, "/saml/acs", ""},
		"saml root":                      {secure, "/saml", ""},
		"dot segments into saml":         {secure, "/v1/../saml/login", ""},
		"encoded saml":                   {secure, "/%73aml/login", ""},
		"absolute own saml":              {secure, "https://serving.example.com/saml/logout", ""},
		"too long":                       {secure, "/" + strings.Repeat("a", maxReturnTo), ""},
		"longest allowed":                {secure, "/" + strings.Repeat("a", maxReturnTo-1), "/" + strings.Repeat("a", maxReturnTo-1)},
		"percent in host":                {secure, "https://evil%2eexample/", ""},
		"bad escape":                     {secure, "/%zz", ""},
		"dev: other loopback port":       {dev, "http://127.0.0.1:9999/", ""},
		"dev: protocol-relative":         {dev, "//127.0.0.1:8080/", ""},
		"ipv6 literal other host":        {secure, "https://[::1]/", ""},
		"mixed-case scheme other host":   {secure, "HTTPS://evil.example/", ""},
		"relative with colon in path ok": {secure, "/v1/models/m:predict", "/v1/models/m:predict"},
		"cli authorize":                  {secure, "/saml/cli/authorize?state=s&code_challenge=c", "/saml/cli/authorize?state=s&code_challenge=c"},
		"cli authorize, bare":            {secure, "/saml/cli/authorize", "/saml/cli/authorize"},
		"cli authorize, dot segments":    {secure, "/saml/x/../cli/authorize?a=b", ""},
		"cli authorize, encoded":         {secure, "/saml/cli/%61uthorize?a=b", ""},
		"cli authorize, trailing slash":  {secure, "/saml/cli/authorize/?a=b", ""},
		"cli authorize, longer path":     {secure, "/saml/cli/authorizex?a=b", ""},
		"cli authorize, absolute":        {secure, "https://serving.example.com/saml/cli/authorize?a=b", ""},
		"cli authorize, fragment":        {secure, "/saml/cli/authorize#x", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := tc.rt.check(tc.in)
			if tc.want == "" {
				if ok {
					t.Errorf("check(%q) = %q, want refused", tc.in, got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Errorf("check(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
			}
		})
	}
}

// FuzzReturnTo checks that whatever check accepts can only lead a browser
// to this host or an allow-listed one.
func FuzzReturnTo(f *testing.F) {
	for _, s := range []string{"/", "/v1/models/m", "//evil", "/\\evil", "https://notebooks.example.com/", "/\t/x", "https://a@b/"} {
		f.Add(s)
	}
	rt := newReturnTo("https://serving.example.com", []string{"notebooks.example.com"}, false)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := rt.check(s)
		if !ok {
			return
		}
		if got != s && !(s == "" && got == "/") {
			t.Fatalf("check(%q) rewrote it to %q", s, got)
		}
		if strings.HasPrefix(got, "/") {
			if strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\n\r ") {
				t.Fatalf("accepted %q", got)
			}
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "https" || u.User != nil ||
			(!strings.EqualFold(u.Host, "serving.example.com") && !strings.EqualFold(u.Host, "notebooks.example.com")) {
			t.Fatalf("accepted absolute %q", got)
		}
	})
}

// FuzzBinding checks that no cookie value opens without the key that
// sealed it (nor panics), and that what opens is a well-formed binding.
func FuzzBinding(f *testing.F) {
	key := make([]byte, BindingKeySize)
	s, err := newBindingSealer(key)
	if err != nil {
		f.Fatal(err)
	}
	const name = "__Host-tfgate-req-abababababab"
	good := binding{RequestID: "_" + strings.Repeat("ab", 16), IdP: "https://idp.example", ReturnTo: "/x", Issued: time.Unix(1e9, 0)}
	v, err := s.seal(name, good, zeroReader{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v)
	f.Add(good.RequestID + ".aHR0cHM6Ly9pZHAuZXhhbXBsZQ.Lng") // the old, derivable format
	f.Add("x.y.z")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		b, err := s.open(name, v)
		if err != nil {
			return
		}
		if !isRequestID(b.RequestID) || b.IdP == "" || b.Issued.IsZero() {
			t.Fatalf("opened %+v from %q", b, v)
		}
		if _, err := s.open(name+"x", v); err == nil {
			t.Fatalf("%q opens under another cookie name", v)
		}
	})
}

// zeroReader reads zeros: a fixed nonce for a seed.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
