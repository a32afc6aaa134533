package simplesamlidp

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var (
	formRE  = regexp.MustCompile(`(?is)<form[^>]*\baction="([^"]*)"`)
	inputRE = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRE  = regexp.MustCompile(`(?is)\b(name|value|type)="([^"]*)"`)
)

// form returns the first form's action (resolved against base) and the
// values of its inputs.
func form(base *url.URL, page string) (string, url.Values, bool) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return "", nil, false
	}
	action, err := base.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", nil, false
	}
	v := url.Values{}
	for _, in := range inputRE.FindAllString(page, -1) {
		var name, value string
		for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
			switch strings.ToLower(a[1]) {
			case "name":
				name = html.UnescapeString(a[2])
			case "value":
				value = html.UnescapeString(a[2])
			}
		}
		if name != "" {
			v.Set(name, value)
		}
	}
	return action.String(), v, true
}

// SignIn follows startURL (the SP's redirect to SSOURL with its
// SAMLRequest) with c, which must keep cookies, fills in SimpleSAMLphp's
// user-name/password page for user, and returns the auto-submitting form
// the IdP answers with: the absolute URL it posts to (the SP's ACS) and its
// fields (SAMLResponse, RelayState). It does not post it. c may follow
// redirects or not; SignIn follows them itself within the IdP.
func SignIn(ctx context.Context, c *http.Client, startURL, user, password string) (acsURL string, fields url.Values, err error) {
	resp, page, err := follow(ctx, c, http.MethodGet, startURL, nil)
	if err != nil {
		return "", nil, err
	}
	action, v, ok := form(resp.Request.URL, page)
	if !ok || !strings.Contains(page, `name="password"`) {
		return "", nil, fmt.Errorf("simplesamlidp: no sign-in form at %s (status %d):\n%s", resp.Request.URL, resp.StatusCode, excerpt(page))
	}
	v.Set("username", user)
	v.Set("password", password)
	resp, page, err = follow(ctx, c, http.MethodPost, action, v)
	if err != nil {
		return "", nil, err
	}
	action, v, ok = form(resp.Request.URL, page)
	if !ok || v.Get("SAMLResponse") == "" {
		return "", nil, fmt.Errorf("simplesamlidp: no SAMLResponse form after signing in as %s at %s (status %d):\n%s", user, resp.Request.URL, resp.StatusCode, excerpt(page))
	}
	return action, v, nil
}

// follow makes the request and follows redirects that stay on the same
// host (the IdP's own hops); a redirect elsewhere is returned as it is.
func follow(ctx context.Context, c *http.Client, method, u string, form url.Values) (*http.Response, string, error) {
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return nil, "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			return nil, "", err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, "", err
		}
		loc, lerr := resp.Location()
		if resp.StatusCode < 300 || resp.StatusCode > 399 || lerr != nil || loc.Host != req.URL.Host {
			return resp, string(b), nil
		}
		method, u, form = http.MethodGet, loc.String(), nil
	}
	return nil, "", fmt.Errorf("simplesamlidp: too many redirects from %s", u)
}

// excerpt keeps failure messages short.
func excerpt(page string) string {
	if len(page) > 2000 {
		return page[:2000] + "..."
	}
	return page
}

// Follow makes a GET through the IdP's redirects with c and returns where
// it ended: the final response (a redirect off the IdP is not followed)
// and its body. Tests use it for single logout.
func Follow(ctx context.Context, c *http.Client, u string) (*http.Response, string, error) {
	return follow(ctx, c, http.MethodGet, u, nil)
}
