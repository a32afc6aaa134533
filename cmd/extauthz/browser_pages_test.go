package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPages visits, in headless Chromium, every page a person can
// land on in `extauthz dev`, checks that each says what happened and what
// to do next, and saves a screenshot of each in bin/artifacts/pages-*.png:
// the account page signed out and in, the GET of the ACS, a refused
// return_to, the IdP's sign-in, the deny page of a refused navigation, the
// sign-out confirmation and the signed-out page.
func TestBrowserPages(t *testing.T) {
	base := startDev(t)
	ctx := newBrowser(t, 90*time.Second)
	dir := artifactsDir(t)

	// visit navigates (when url is not empty), waits until the page shows
	// every want, checks the status the browser got, and saves a screenshot.
	visit := func(name, u string, status int, want ...string) {
		t.Helper()
		var got int
		if u != "" {
			resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got = int(resp.Status)
		}
		cond := "true"
		for _, w := range want {
			cond += fmt.Sprintf(" && document.body.innerText.includes(%q)", w)
		}
		if err := waitForPage(ctx, cond); err != nil {
			text, _ := pageText(ctx)
			t.Fatalf("%s: %v\npage:\n%s", name, err, text)
		}
		if u != "" && got != status {
			t.Errorf("%s: status %d, want %d", name, got, status)
		}
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "pages-"+name+".png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	click := func(sel string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("clicking %s: %v", sel, err)
		}
	}

	visit("home-signed-out", base+"/saml/", 200, "You are not signed in", "Sign in", "Development stack")
	visit("acs-get", base+"/saml/acs", 405, "Nothing to open here", "not a page to open", "Sign in")
	visit("return-to-refused", base+"/saml/login?return_to="+url.QueryEscape("/saml/whoami"), 400,
		"not allowed", "pages under /saml/", "Sign in and go to your account page")

	// dave (no groups) asks for a model: the IdP's page, then the deny page.
	visit("idp-signin", base+"/v1/models/half_plus_two", 200, "dave")
	click(`button[name="user"][value="dave"]`)
	visit("deny", "", 0, "Access denied", "You are signed in as dave", "a member of no group",
		"GET /v1/models/half_plus_two", "decision id", "Sign out or sign in as someone else", "Development stack")
	if id, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p:nth-of-type(4) code"))); err != nil || len(id) != 32 {
		t.Errorf("deny page decision id %q (%v)", id, err)
	}
	visit("home-no-groups", base+"/saml/", 200, "Signed in as", "dave", "None of your groups is granted any model", "extauthz login --server "+base)

	// Sign out from the deny page's link, and sign in as alice from the
	// signed-out page: back on the account page, with her grants.
	visit("deny-again", base+"/v1/models/half_plus_two", 403, "Access denied")
	click(`a.button.secondary`)
	visit("signout-confirm", "", 0, "Sign out of tfgate?")
	click(`form button[type="submit"]`)
	visit("signed-out", "", 0, "You are signed out", "Sign in", "private window")
	click(`a.button`)
	click(`button[name="user"][value="alice"]`)
	visit("home-alice", "", 0, "Signed in as", "alice", "ml-engineers", "What your groups may use", "half_plus_two", "every version")
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/saml/") {
		t.Errorf("after signing in from the signed-out page: at %q (%v), want the account page", loc, err)
	}
	visit("model-allowed", base+"/v1/models/half_plus_two", 200, "AVAILABLE")
	t.Logf("screenshots: %s/pages-*.png", dir)
}
