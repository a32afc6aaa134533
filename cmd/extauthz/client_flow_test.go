package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/internal/cliclient"
	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/keyringtest"
	"github.com/tfgate/tfgate/internal/tfpb"
)

// TestClientFlow is `extauthz login`, `token` and `logout` against the real
// `extauthz dev` stack: a browser signs in through the development IdP, and
// the printed tokens drive a real grpc-go client through the development
// proxy to the TF Serving stand-in.
func TestClientFlow(t *testing.T) {
	stack := startDevStack(t)
	dir := devLogin(t, stack.rest, "alice")

	if fi, err := os.Stat(dir + "/" + cliclient.TokenFileName); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	full := runCLI(t, 0, "token")
	if !strings.HasPrefix(full, "tfg_") {
		t.Fatalf("token printed %q", full)
	}
	if y, err := predictGRPC(t, stack.grpc, full); err != nil || len(y) != 3 || y[0] != 2.5 {
		t.Fatalf("Predict with the login's token: %v %v", y, err)
	}

	// A narrower token: refused for half_plus_two, and the login's stays.
	scoped := runCLI(t, 0, "token", "--scope", "model:other")
	if scoped == full || !strings.HasPrefix(scoped, "tfg_") {
		t.Fatalf("scoped token %q", scoped)
	}
	if _, err := predictGRPC(t, stack.grpc, scoped); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Predict with a model:other token: %v, want PermissionDenied", err)
	}
	if again := runCLI(t, 0, "token"); again != full {
		t.Fatalf("the login's token changed: %q", again)
	}

	// Thirty seconds before it expires, `token` renews it.
	store := cliclient.NewStore(dir)
	before := entryOf(t, store, stack.rest)
	env := cliclient.DefaultEnv()
	env.Now = func() time.Time { return before.ExpiresAt.Add(-30 * time.Second) }
	var out strings.Builder
	if err := cliclient.Token(t.Context(), cliclient.TokenOptions{}, &out, io.Discard, env); err != nil {
		t.Fatal(err)
	}
	renewed := strings.TrimSpace(out.String())
	after := entryOf(t, store, stack.rest)
	if renewed == full || after.AccessToken != renewed || after.RefreshToken == before.RefreshToken {
		t.Fatalf("renewal: printed %q, stored %+v", renewed, after)
	}
	if _, err := predictGRPC(t, stack.grpc, renewed); err != nil {
		t.Fatalf("Predict with the renewed token: %v", err)
	}

	// Several `extauthz token` at once, all due to renew: they take turns
	// on the file, so one spends the refresh token and the others print
	// what it got. Spending it twice would make the server revoke the
	// whole sign-in as a stolen token.
	renewed = renewTogether(t, store, stack.rest, 4)
	if _, err := predictGRPC(t, stack.grpc, renewed); err != nil {
		t.Fatalf("Predict after concurrent renewals: %v", err)
	}

	// Sign out: the token is refused and forgotten.
	if msg := runCLI(t, 0, "logout"); msg != "" {
		t.Errorf("logout printed %q on stdout", msg)
	}
	if _, err := predictGRPC(t, stack.grpc, renewed); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Predict after logout: %v, want Unauthenticated", err)
	}
	if f, err := store.Load(); err != nil || len(f.Servers) != 0 {
		t.Fatalf("after logout the file holds %+v (%v)", f, err)
	}
	runCLI(t, 1, "token")
}

// TestClientFlowKeyring is `extauthz login`, `token` and `logout` with
// $TFGATE_TOKEN_STORE=keyring against the dev stack and a real GNOME
// Keyring on a private D-Bus: the tokens are in the keyring item and in no
// file, the printed token is accepted, and logout revokes it and deletes
// the item.
func TestClientFlowKeyring(t *testing.T) {
	keyringtest.Start(t)
	stack := startDevStack(t)
	dir := devLoginStore(t, stack.rest, cliclient.TokenStoreKeyring, func(authURL string) string { return browserSignIn(t, authURL, "alice") })
	if _, err := os.Stat(filepath.Join(dir, cliclient.TokenFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a token file exists with the keyring store (%v)", err)
	}
	tok := runCLI(t, 0, "token")
	item, err := keyring.Get(cliclient.KeyringService, dir)
	if err != nil || !strings.HasPrefix(tok, "tfg_") || !strings.Contains(item, tok) {
		t.Fatalf("token %q; the keyring item (%v):\n%s", tok, err, item)
	}
	if _, err := predictGRPC(t, stack.grpc, tok); err != nil {
		t.Fatalf("Predict with the keyring's token: %v", err)
	}
	runCLI(t, 0, "logout")
	if _, err := predictGRPC(t, stack.grpc, tok); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Predict after logout: %v, want Unauthenticated", err)
	}
	if _, err := keyring.Get(cliclient.KeyringService, dir); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the keyring item after logout: %v, want ErrNotFound", err)
	}
}

// renewTogether runs n `extauthz token` at once with a clock 30 seconds
// before the stored token expires, checks they all print the same new
// token, and returns it.
func renewTogether(t *testing.T, store *cliclient.Store, server string, n int) string {
	t.Helper()
	exp := entryOf(t, store, server).ExpiresAt
	env := cliclient.DefaultEnv()
	env.Now = func() time.Time { return exp.Add(-30 * time.Second) }
	outs := make([]strings.Builder, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = cliclient.Token(t.Context(), cliclient.TokenOptions{}, &outs[i], io.Discard, env) })
	}
	wg.Wait()
	first := outs[0].String()
	for i := range n {
		if errs[i] != nil || outs[i].String() != first {
			t.Fatalf("concurrent token %d: %q %v (first printed %q)", i, outs[i].String(), errs[i], first)
		}
	}
	return strings.TrimSpace(first)
}

// devLogin runs `extauthz login --no-browser` in-process against the dev
// stack at base, with $TFGATE_CONFIG_DIR set to a new directory that it
// returns, and signs in as user with a scripted browser.
func devLogin(t *testing.T, base, user string) string {
	t.Helper()
	return devLoginWith(t, base, func(authURL string) string { return browserSignIn(t, authURL, user) })
}

// devLoginWith runs `extauthz login --no-browser` against base and hands
// the URL it prints to signIn, which must sign in and return the last
// page's text. It returns the config directory holding the tokens.
func devLoginWith(t *testing.T, base string, signIn func(authURL string) string) string {
	t.Helper()
	return devLoginStore(t, base, cliclient.TokenStoreFile, signIn) // not this machine's keyring
}

// devLoginStore is devLoginWith with $TFGATE_TOKEN_STORE set to store.
func devLoginStore(t *testing.T, base, store string, signIn func(authURL string) string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(cliclient.ConfigDirEnv, dir)
	t.Setenv(cliclient.TokenStoreEnv, store)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	errR, errW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"login", "--server", base, "--no-browser"}, io.Discard, errW)
		errW.Close()
	}()
	var stderr strings.Builder
	lines := bufio.NewScanner(errR)
	authURL := ""
	for authURL == "" && lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
		if l := strings.TrimSpace(lines.Text()); strings.HasPrefix(l, base+"/saml/cli/authorize?") {
			authURL = l
		}
	}
	if authURL == "" {
		t.Fatalf("login printed no sign-in URL:\n%s", stderr.String())
	}
	go func() {
		for lines.Scan() {
			stderr.WriteString(lines.Text() + "\n")
		}
	}()
	if page := signIn(authURL); !strings.Contains(page, "Signed in") {
		t.Errorf("the browser's last page:\n%s", page)
	}
	if code := <-done; code != 0 {
		t.Fatalf("login exited %d:\n%s", code, stderr.String())
	}
	return dir
}

// browserSignIn is a browser without JavaScript: it follows redirects
// with a cookie jar, submits the development IdP's sign-in form for user
// and the auto-submit form it answers with, clicks Allow on the
// confirmation page, and returns the last page,
// which is the CLI's own on the loopback port.
func browserSignIn(t *testing.T, authURL, user string) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	var hops []string
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		hops = append(hops, req.URL.Path)
		return nil
	}}
	acs, fields, err := devidp.SignIn(t.Context(), c, authURL, user)
	if err != nil {
		t.Fatalf("signing in at the IdP (via %v): %v", hops, err)
	}
	resp, page := browse(t, c, http.MethodPost, acs, fields)
	// Back at the authorize endpoint, signed in: the confirmation page.
	action, consent, ok := consentForm(page)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/saml/cli/authorize" || !ok || consent.Get("csrf") == "" {
		t.Fatalf("expected the confirmation page, got %d at %s (via %v):\n%s", resp.StatusCode, resp.Request.URL.Redacted(), hops, page)
	}
	if !strings.Contains(page, "as "+user) {
		t.Errorf("the confirmation page does not name %s:\n%s", user, page)
	}
	consent.Set("decision", "allow")
	next, err := resp.Request.URL.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	resp, page = browse(t, c, http.MethodPost, next.String(), consent)
	if resp.Request.URL.Hostname() != "127.0.0.1" || resp.Request.URL.Path != "/callback" || resp.StatusCode != http.StatusOK {
		t.Fatalf("ended at %d %s (via %v):\n%s", resp.StatusCode, resp.Request.URL.Redacted(), hops, page)
	}
	if len(hops) == 0 || hops[0] != "/saml/login" {
		t.Errorf("redirects %v: the authorize endpoint should send an anonymous browser to sign in first", hops)
	}
	return page
}

func browse(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// runCLI runs an extauthz command in-process, checks its exit code and
// returns its stdout without the final newline.
func runCLI(t *testing.T, wantCode int, args ...string) string {
	t.Helper()
	var out, errOut strings.Builder
	if code := run(t.Context(), args, &out, &errOut); code != wantCode {
		t.Fatalf("extauthz %v exited %d, want %d:\n%s%s", args, code, wantCode, out.String(), errOut.String())
	}
	return strings.TrimSuffix(out.String(), "\n")
}

// bearerCreds are per-RPC credentials carrying a tfgate token, the way a
// Go TF Serving client adds one without changing its stubs.
type bearerCreds string

func (b bearerCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false only because the dev stack is
// plaintext on loopback.
func (bearerCreds) RequireTransportSecurity() bool { return false }

// predictGRPC calls Predict on half_plus_two with x = [1, 2, 5] through the
// dev stack's gRPC proxy and returns y.
func predictGRPC(t *testing.T, addr, token string) ([]float32, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearerCreds(token)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var resp []byte
	req := tfpb.PredictRequest(tfpb.ModelSpec{Name: "half_plus_two"}, map[string][]float32{"x": {1, 2, 5}})
	if err := conn.Invoke(ctx, tfpb.MethodPredict, req, &resp, grpc.ForceCodecV2(tfpb.Codec{})); err != nil {
		return nil, err
	}
	out, err := tfpb.PredictResponseFloats(resp)
	return out["y"], err
}

func entryOf(t *testing.T, store *cliclient.Store, server string) *cliclient.Entry {
	t.Helper()
	f, err := store.Load()
	if err != nil {
		t.Fatal(err)
	}
	return f.Servers[server]
}

// consentForm returns the action and hidden fields of page's form with
// an Allow button, and whether there is one.
func consentForm(page string) (string, url.Values, bool) {
	action, form, ok := devidp.Form(page)
	if !ok || !strings.Contains(page, `name="decision" value="allow"`) {
		return "", nil, false
	}
	return action, form, true
}

// TestTokenTellsTheTruth: once the server has revoked the stored access
// token (here through RFC 7009, as a sign-out elsewhere would), the API
// answers 401 with RFC 6750's invalid_token and a hint for a person, and
// `extauthz token` no longer prints that token: it renews it or, when the
// whole sign-in is gone, says to sign in again and exits 1.
func TestTokenTellsTheTruth(t *testing.T) {
	stack := startDevStack(t)
	dir := devLogin(t, stack.rest, "alice")
	first := runCLI(t, 0, "token")

	revoke := func(tok, hint string) {
		t.Helper()
		resp, err := http.PostForm(stack.rest+"/token/revoke", url.Values{"token": {tok}, "token_type_hint": {hint}})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoking: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	revoke(first, "access_token")

	req, _ := http.NewRequest("GET", stack.rest+"/v1/models/half_plus_two", nil)
	req.Header.Set("Authorization", "Bearer "+first)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("Www-Authenticate"), `error="invalid_token"`) ||
		!strings.Contains(string(body), "extauthz login") {
		t.Fatalf("API with a revoked token: %d %q %s", resp.StatusCode, resp.Header.Get("Www-Authenticate"), body)
	}

	// Half a minute on, `extauthz token` checks with the server.
	store := cliclient.NewStore(dir)
	env := cliclient.DefaultEnv()
	env.Now = func() time.Time { return time.Now().Add(time.Minute) }
	var out, errOut strings.Builder
	err = cliclient.Token(t.Context(), cliclient.TokenOptions{}, &out, &errOut, env)
	second := strings.TrimSpace(out.String())
	if err != nil || second == first || second == "" {
		t.Fatalf("token after its revocation: printed %q (first %q), error %v", second, first, err)
	}
	if _, err := predictGRPC(t, stack.grpc, second); err != nil {
		t.Fatalf("Predict with the renewed token: %v", err)
	}
	// Now the whole sign-in: revoking the refresh token ends its family.
	revoke(entryOf(t, store, stack.rest).RefreshToken, "refresh_token")
	env.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	out.Reset()
	err = cliclient.Token(t.Context(), cliclient.TokenOptions{}, &out, &errOut, env)
	if err == nil || out.Len() != 0 || !strings.Contains(err.Error(), "run `extauthz login --server") {
		t.Fatalf("after revoking the sign-in: printed %q, error %v", out.String(), err)
	}
}
