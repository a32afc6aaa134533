package cliclient

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The server's endpoints for the CLI (RFC 6749 with PKCE, RFC 8252 loopback
// redirects, RFC 7009 revocation), relative to the server URL.
const (
	authorizePath = "/saml/cli/authorize"
	tokenPath     = "/token"
	revokePath    = "/token/revoke"
	whoamiPath    = "/saml/whoami"
)

var (
	errNotHTTP      = errors.New("the server URL must be http:// or https:// with a host")
	errNotLoopback  = errors.New("the redirect URI must be on a loopback address")
	errBadTokenJSON = errors.New("the token endpoint answered something that is not a token")
)

// oauthError is an RFC 6749 §5.2 error response (or §4.1.2.1 at the
// redirect), e.g. invalid_grant or access_denied.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string {
	if e.Description != "" {
		return e.Code + ": " + oneLine(e.Description)
	}
	return e.Code
}

// oneLine keeps a server's text from breaking our one-line messages.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// normaliseServer returns the canonical form of a --server URL, which
// keys the token file: lower-case scheme and host, no default port, no
// trailing slash, query, fragment or user info.
func normaliseServer(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return "", fmt.Errorf("--server %q: %w", raw, errNotHTTP)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--server %q: give the server's origin (and path prefix, if any) only", raw)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// isLoopbackServer reports whether a normalised server URL names this
// machine, where plain HTTP carries tokens no further than loopback.
func isLoopbackServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

// loopbackRedirectURI is the redirect URI for a listener, which must be
// on a loopback IP (RFC 8252 §7.3): a code sent anywhere else could be
// caught by another machine. "localhost" is not used, as it may resolve
// elsewhere (RFC 8252 §8.3).
func loopbackRedirectURI(addr net.Addr) (string, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP == nil || !tcp.IP.IsLoopback() || tcp.Port == 0 {
		return "", fmt.Errorf("%w: %v", errNotLoopback, addr)
	}
	return (&url.URL{Scheme: "http", Host: tcp.String(), Path: "/callback"}).String(), nil
}

// pkceChallenge is the S256 code_challenge of a code_verifier (RFC 7636
// §4.2): BASE64URL(SHA256(verifier)), unpadded.
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomURLString reads n bytes from r as unpadded base64url; 32 bytes make
// a 43-character PKCE verifier (RFC 7636 §4.1).
func randomURLString(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// normaliseScope sorts and de-duplicates a space-separated scope, so the
// same scope always finds the same cached token.
func normaliseScope(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(slices.Compact(f), " ")
}

// authorizeURL is where the browser starts the sign-in.
func authorizeURL(server, redirectURI, state, challenge, scope string) string {
	q := url.Values{
		"redirect_uri": {redirectURI}, "state": {state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	return server + authorizePath + "?" + q.Encode()
}

// tokenResponse is a successful RFC 6749 §5.1 answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// oauthClient talks to one server's token endpoints.
type oauthClient struct {
	server string // normalised
	http   *http.Client
}

// newHTTPClient returns the client for token endpoints: bounded in time,
// and never following a redirect, so a form carrying a code or a refresh
// token is never re-sent to another URL.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// exchange trades an authorization code for tokens (RFC 6749 §4.1.3).
func (c *oauthClient) exchange(ctx context.Context, code, redirectURI, verifier string) (tokenResponse, error) {
	return c.token(ctx, url.Values{
		"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	})
}

// refresh trades a refresh token for new tokens (RFC 6749 §6), for scope
// when it is not empty. The server rotates the refresh token.
func (c *oauthClient) refresh(ctx context.Context, refreshToken, scope string) (tokenResponse, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return c.token(ctx, form)
}

func (c *oauthClient) token(ctx context.Context, form url.Values) (tokenResponse, error) {
	var tr tokenResponse
	resp, err := c.post(ctx, tokenPath, form)
	if err != nil {
		return tr, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return tr, fmt.Errorf("reading the token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return tr, responseError(resp, body)
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || tr.ExpiresIn <= 0 {
		return tr, fmt.Errorf("%w (HTTP %d)", errBadTokenJSON, resp.StatusCode)
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return tr, fmt.Errorf("%w: token_type %q, want Bearer", errBadTokenJSON, tr.TokenType)
	}
	return tr, nil
}

// responseError is the error of a non-200 answer: the RFC 6749 error when
// the body is one, else the HTTP status (a proxy's page says nothing to
// us).
func responseError(resp *http.Response, body []byte) error {
	var oe oauthError
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" &&
		json.Unmarshal(body, &oe) == nil && oe.Code != "" {
		return &oe
	}
	return fmt.Errorf("%s answered HTTP %d", resp.Request.URL.Redacted(), resp.StatusCode)
}

// revoke revokes a token (RFC 7009). The server answers 200 even for a
// token it does not know.
func (c *oauthClient) revoke(ctx context.Context, token, hint string) error {
	resp, err := c.post(ctx, revokePath, url.Values{"token": {token}, "token_type_hint": {hint}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return responseError(resp, body)
	}
	return nil
}

func (c *oauthClient) post(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("could not reach %s: %w", c.server, unwrapURLError(err))
	}
	return resp, nil
}

// unwrapURLError drops url.Error's "Post URL:" prefix; the caller names
// the server.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// identity is the part of /saml/whoami that login reports.
type identity struct {
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
}

// whoami asks who an access token belongs to. It is only for the message
// at the end of a login, so any failure is just no answer.
func (c *oauthClient) whoami(ctx context.Context, accessToken string) (identity, bool) {
	var id identity
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+whoamiPath, nil)
	if err != nil {
		return id, false
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return id, false
	}
	defer resp.Body.Close()
	ok := resp.StatusCode == http.StatusOK &&
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&id) == nil && id.Subject != ""
	return id, ok
}
