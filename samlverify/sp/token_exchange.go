package sp

import (
	"context"
	"errors"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// RFC 8693 token exchange: a workload (a Kubernetes batch job, say)
// presents a token its platform issued it, and gets a short-lived tfgate
// access token for the identity that token proves:
//
//	POST /token  grant_type=urn:ietf:params:oauth:grant-type:token-exchange
//	             subject_token=<JWT>
//	             subject_token_type=urn:ietf:params:oauth:token-type:jwt
//	             [requested_token_type=urn:ietf:params:oauth:token-type:access_token]
//	             [scope=model:resnet ...]
//
// The answer (§2.2.1) has access_token, issued_token_type (access_token),
// token_type Bearer and expires_in; no refresh token: the workload
// exchanges its (rotated) platform token again. The access token ends no
// later than the subject token does. Delegation (actor_token) is not
// supported.

// Token exchange identifiers (RFC 8693 §2.1, §3).
const (
	GrantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// ErrExchangeUnavailable is what a TokenExchanger's error wraps when it
// could not judge the token (its issuer's keys could not be fetched): the
// client is told to try again (503), not that its token is bad.
var ErrExchangeUnavailable = errors.New("sp: token exchange: the subject token's issuer is unavailable")

// TokenExchanger verifies the subject_token of a token exchange.
//
// Exchange returns the identity subjectToken proves: Subject, Groups, IdP
// (the issuer), Auth (e.g. authz.AuthK8s) and ExpiresAt (the subject
// token's own expiry). A refusal is an error whose message is safe to show
// the client (it never quotes the token); an error wrapping
// ErrExchangeUnavailable means it could not decide.
type TokenExchanger interface {
	Exchange(ctx context.Context, subjectToken string) (authz.Session, error)
}

// exchangeResponse is RFC 8693 §2.2.1's answer.
type exchangeResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// tokenExchange runs one RFC 8693 exchange.
func (t *tokenEndpoint) tokenExchange(ctx context.Context, form tokenForm) (exchangeResponse, error) {
	if t.cfg.Exchange == nil {
		return exchangeResponse{}, oauthErr(errUnsupportedGrantType, "token exchange is not configured on this server (workload_identity.kubernetes)")
	}
	subject, err := form.get("subject_token", true)
	if err != nil {
		return exchangeResponse{}, err
	}
	typ, err := form.get("subject_token_type", true)
	if err != nil {
		return exchangeResponse{}, err
	}
	if typ != TokenTypeJWT {
		return exchangeResponse{}, oauthErr(errInvalidRequest, "subject_token_type must be "+TokenTypeJWT)
	}
	if rt, err := form.get("requested_token_type", false); err != nil {
		return exchangeResponse{}, err
	} else if rt != "" && rt != TokenTypeAccessToken {
		return exchangeResponse{}, oauthErr(errInvalidRequest, "requested_token_type must be "+TokenTypeAccessToken)
	}
	if at, err := form.get("actor_token", false); err != nil || at != "" {
		if err != nil {
			return exchangeResponse{}, err
		}
		return exchangeResponse{}, oauthErr(errInvalidRequest, "delegation (actor_token) is not supported")
	}
	scope, err := scopeParam(form)
	if err != nil {
		return exchangeResponse{}, err
	}
	id, err := t.cfg.Exchange.Exchange(ctx, subject)
	switch {
	case errors.Is(err, ErrExchangeUnavailable):
		return exchangeResponse{}, &oauthError{code: errUnavailableCode, desc: "the subject token's issuer is unavailable; try again shortly", cause: err}
	case err != nil:
		return exchangeResponse{}, &oauthError{code: errInvalidGrant, desc: err.Error(), cause: err}
	}
	return t.mintExchanged(ctx, id, scope)
}

// mintExchanged stores an access token for id, ending at the earliest of
// TokenLifetime and the subject token's expiry.
func (t *tokenEndpoint) mintExchanged(ctx context.Context, id authz.Session, scope []string) (exchangeResponse, error) {
	now := t.cfg.Now()
	exp := now.Add(t.cfg.TokenLifetime)
	if !id.ExpiresAt.IsZero() {
		exp = earliest(exp, id.ExpiresAt)
	}
	if exp.Sub(now) < time.Second {
		return exchangeResponse{}, oauthErr(errInvalidGrant, "the subject token expires too soon to exchange; get a fresh one")
	}
	access, err := authz.NewToken(t.cfg.Rand)
	if err != nil {
		return exchangeResponse{}, err
	}
	s := authz.Session{
		Subject: id.Subject, Email: id.Email, Name: id.Name, Groups: id.Groups, IdP: id.IdP, Auth: id.Auth,
		Scope: scope, CreatedAt: now, ExpiresAt: exp,
	}
	if err := t.store.Create(ctx, access, s); err != nil {
		return exchangeResponse{}, storeError(err)
	}
	t.cfg.Logger.Info("token: issued", "grant", GrantTokenExchange, "session", authz.SessionHandle(access),
		"auth", id.Auth, "scoped", len(scope) > 0, "expires_in", int64(exp.Sub(now)/time.Second))
	return exchangeResponse{
		AccessToken: access, IssuedTokenType: TokenTypeAccessToken, TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(now) / time.Second), Scope: joinScope(scope),
	}, nil
}
