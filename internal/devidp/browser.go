package devidp

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

// This file is a scripted browser for tests that sign in through the
// development IdP: it submits the sign-in page for a user and reads the
// auto-submitting form the IdP answers with. It takes an *http.Client and
// returns errors rather than taking a testing.TB, so that this package does
// not link "testing".

var (
	formActionRE  = regexp.MustCompile(`<form[^>]* action="([^"]+)"`)
	hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// Form returns the action of the first form in page and the page's hidden
// inputs, HTML-unescaped, and whether page has a form. The action is as
// written in the page; resolve it against the page's URL.
func Form(page string) (action string, hidden url.Values, ok bool) {
	m := formActionRE.FindStringSubmatch(page)
	if m == nil {
		return "", nil, false
	}
	hidden = url.Values{}
	for _, in := range hiddenInputRE.FindAllStringSubmatch(page, -1) {
		hidden.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return html.UnescapeString(m[1]), hidden, true
}

// FormValue returns the HTML-unescaped value of the input called name in
// page, or "" if there is none.
func FormValue(page, name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// SignIn loads the IdP's sign-in page at startURL with c (through whatever
// redirects c follows) and submits it for user; see SubmitSignIn.
func SignIn(ctx context.Context, c *http.Client, startURL, user string) (acsURL string, fields url.Values, err error) {
	resp, page, err := do(ctx, c, http.MethodGet, startURL, nil)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("devidp: sign-in page %s: status %d:\n%s", resp.Request.URL, resp.StatusCode, page)
	}
	return SubmitSignIn(ctx, c, resp, page, user)
}

// SubmitSignIn submits the IdP's sign-in page, which resp loaded and whose
// body is page, for user with c, as a browser without JavaScript would. It
// returns the IdP's auto-submitting form, which it does not post: the
// absolute URL it posts to (the SP's ACS) and its fields (SAMLResponse,
// and RelayState if there is one). The caller posts them to the ACS with
// whatever headers and checks it needs.
func SubmitSignIn(ctx context.Context, c *http.Client, resp *http.Response, page, user string) (acsURL string, fields url.Values, err error) {
	action, form, ok := Form(page)
	if !ok || form.Get("token") == "" {
		return "", nil, fmt.Errorf("devidp: no sign-in form at %s:\n%s", resp.Request.URL, page)
	}
	target, err := resp.Request.URL.Parse(action)
	if err != nil {
		return "", nil, fmt.Errorf("devidp: sign-in form action %q: %w", action, err)
	}
	form.Set("user", user)
	resp, page, err = do(ctx, c, http.MethodPost, target.String(), form)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("devidp: signing in as %q: status %d:\n%s", user, resp.StatusCode, page)
	}
	action, fields, ok = Form(page)
	if !ok || fields.Get("SAMLResponse") == "" {
		return "", nil, fmt.Errorf("devidp: no SAMLResponse form after signing in as %q:\n%s", user, page)
	}
	acs, err := resp.Request.URL.Parse(action)
	if err != nil {
		return "", nil, fmt.Errorf("devidp: auto-submit form action %q: %w", action, err)
	}
	return acs.String(), fields, nil
}

// do sends a GET, or a form POST when form is not nil, and returns the
// response with its body read.
func do(ctx context.Context, c *http.Client, method, u string, form url.Values) (*http.Response, string, error) {
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
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("devidp: %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("devidp: %s %s: %w", method, u, err)
	}
	return resp, string(b), nil
}
