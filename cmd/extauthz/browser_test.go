package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tfgate/tfgate/internal/cliclient"
)

// chromiumPath finds Debian's chromium; the test fails (never skips) with
// the install command when it is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("chromium not found: install it with `apt-get install -y chromium`")
	return ""
}

// artifactsDir is where the browser test leaves its screenshots
// (TFGATE_ARTIFACTS, default bin/artifacts in the repository).
func artifactsDir(t *testing.T) string {
	dir := os.Getenv("TFGATE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startDev runs `extauthz dev` on free loopback ports and returns the
// front proxy's REST base URL.
func startDev(t *testing.T) string { return startDevStack(t).rest }

// devStack is where a test's `extauthz dev` listens: the front proxy's REST
// base URL and its gRPC address.
type devStack struct{ rest, grpc string }

func startDevStack(t *testing.T) devStack {
	t.Helper()
	var l devListeners
	var addrs []devListen
	for _, ln := range []*net.Listener{&l.rest, &l.grpc, &l.idp, &l.checkGRPC, &l.checkHTTP, &l.tfsREST, &l.tfsGRPC} {
		addrs = append(addrs, devListen{ln: ln, addr: "127.0.0.1:0"})
	}
	if err := listenAll(addrs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, &l, io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("extauthz dev: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("extauthz dev did not stop")
		}
	})
	return devStack{rest: "http://" + l.rest.Addr().String(), grpc: l.grpc.Addr().String()}
}

// newBrowser starts headless Chromium for one test, with the flags this
// machine's closed network needs, and returns a tab context that times out.
func newBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// TestBrowserSignIn drives headless Chromium through the whole sign-in of
// `extauthz dev`: an anonymous request for a model, the redirect to the
// development IdP's page, a click on a demo user, the auto-submitted POST
// to the ACS, the session cookie, and the original URL answered by TF
// Serving. It saves screenshots of the sign-in page and the final page.
func TestBrowserSignIn(t *testing.T) {
	base := startDev(t)
	ctx := newBrowser(t, 60*time.Second)

	alice := chromedp.CSS(`button[name="user"][value="alice"]`)
	var signIn, final []byte
	var location, body, whoami string
	err := chromedp.Do(ctx, chromedp.Navigate(base+"/v1/models/half_plus_two"), chromedp.WaitVisible(alice))
	if err == nil {
		signIn, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Click(alice))
	}
	if err == nil {
		// The IdP's page auto-submits the signed response to the ACS, which
		// sets the cookie and sends the browser back to the model. The
		// navigations interrupt evaluations, so poll until the page settles.
		err = waitForPage(ctx, `document.location.pathname === "/v1/models/half_plus_two" && document.body.innerText.includes("model_version_status")`)
	}
	if err == nil {
		location, err = chromedp.Run(ctx, chromedp.Location())
	}
	if err == nil {
		body, err = pageText(ctx)
	}
	if err == nil {
		final, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate(base+"/saml/whoami"))
	}
	if err == nil {
		whoami, err = pageText(ctx)
	}
	// Sign out from tfgate's own page, as a user would: the form POST must
	// pass the logout CSRF checks in a real browser, then whoami is 401.
	var afterLogout string
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate(base+"/saml/logout"), chromedp.WaitVisible(chromedp.CSS(`form button[type="submit"]`)))
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
	}
	if err == nil {
		err = waitForPage(ctx, `!document.location.pathname.startsWith("/saml/logout") || document.body.innerText.includes("signed out") || document.body.innerText.includes("Signed out")`)
	}
	if err == nil {
		err = chromedp.Do(ctx, chromedp.Navigate(base+"/saml/whoami"))
	}
	if err == nil {
		afterLogout, err = pageText(ctx)
	}
	dir := artifactsDir(t)
	for name, img := range map[string][]byte{"signin.png": signIn, "final.png": final} {
		if len(img) > 0 {
			if werr := os.WriteFile(filepath.Join(dir, name), img, 0o644); werr != nil {
				t.Error(werr)
			}
		}
	}
	if err != nil {
		t.Fatalf("browser flow: %v (screenshots so far in %s)", err, dir)
	}
	if location != base+"/v1/models/half_plus_two" {
		t.Errorf("ended at %s", location)
	}
	if !strings.Contains(body, `"state"`) || !strings.Contains(body, "AVAILABLE") {
		t.Errorf("final page is not the model status:\n%s", body)
	}
	if !strings.Contains(whoami, `"alice"`) || !strings.Contains(whoami, "ml-engineers") {
		t.Errorf("whoami after sign-in: %s", whoami)
	}
	if strings.Contains(afterLogout, `"alice"`) {
		t.Errorf("still signed in after signing out in the browser: %s", afterLogout)
	}
	t.Logf("screenshots: %s/signin.png, %s/final.png", dir, dir)
}

// waitForPage evaluates a JavaScript predicate until it is true, retrying
// through the errors a navigation in progress causes.
// pageText is the current page's visible text, read in one evaluation in
// the page. (chromedp.Text resolves the body's node first and then reads
// it; Chromium's JSON viewer replaces the body of a JSON page after load,
// and a read between the two failed with "No node with given id found".)
func pageText(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
}

func waitForPage(ctx context.Context, predicate string) error {
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		if err == nil && ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", predicate, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestBrowserCLILogin signs `extauthz login` in with headless Chromium as
// the user's browser: the IdP page, the confirmation page's Allow button
// (a real form POST, with the browser's own Origin and fetch metadata),
// and the CLI's loopback page; then `extauthz token` gives a token. The
// confirmation page (/saml/cli/authorize) and the loopback page must say
// what is happening and what to do, in tfgate's style (the loopback page's
// stylesheet is allowed by its hash, so a mismatch would leave it bare);
// screenshots go to bin/artifacts/pages-cli-consent.png and
// pages-cli-callback.png, next to TestBrowserPages'.
func TestBrowserCLILogin(t *testing.T) {
	dev := startDevStack(t)
	ctx := newBrowser(t, 60*time.Second)
	artifacts := artifactsDir(t)
	shot := func(name string, want ...string) string {
		t.Helper()
		cond := `getComputedStyle(document.body).backgroundColor === "rgb(246, 247, 249)"`
		for _, w := range want {
			cond += fmt.Sprintf(" && document.body.innerText.includes(%q)", w)
		}
		if err := waitForPage(ctx, cond); err != nil {
			text, _ := pageText(ctx)
			t.Fatalf("%s: %v\npage:\n%s", name, err, text)
		}
		img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artifacts, "pages-"+name+".png"), img, 0o644); err != nil {
			t.Fatal(err)
		}
		page, err := pageText(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return page
	}
	dir := devLoginWith(t, dev.rest, func(authURL string) string {
		alice := chromedp.CSS(`button[name="user"][value="alice"]`)
		allow := chromedp.CSS(`button[name="decision"][value="allow"]`)
		if err := chromedp.Do(ctx, chromedp.Navigate(authURL), chromedp.WaitVisible(alice), chromedp.Click(alice), chromedp.WaitVisible(allow)); err != nil {
			t.Fatalf("browser: %v", err)
		}
		shot("cli-consent", "Allow command-line sign-in?", "Sign in extauthz on this computer as alice",
			"Allow it only if you just ran extauthz login on this computer", "Cancel")
		if err := chromedp.Do(ctx, chromedp.Click(allow)); err != nil {
			t.Fatalf("browser: %v", err)
		}
		return shot("cli-callback", "Signed in", "extauthz is signed in to "+dev.rest,
			"You can close this tab and return to the terminal", "This page comes from extauthz login on this computer")
	})
	t.Logf("screenshots: %s/pages-cli-*.png", artifacts)
	t.Setenv(cliclient.ConfigDirEnv, dir)
	t.Setenv(cliclient.TokenStoreEnv, cliclient.TokenStoreFile) // not this machine's keyring
	if token := strings.TrimSpace(runCLI(t, 0, "token", "--server", dev.rest)); !strings.HasPrefix(token, "tfg_") {
		t.Errorf("extauthz token printed %q", token)
	}
}
