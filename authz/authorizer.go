package authz

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tfgate/tfgate/authz/tfserving"
)

// Config configures an Authorizer.
type Config struct {
	// Sessions finds sessions by credential. Required.
	Sessions SessionStore
	// Policy decides. Required.
	Policy Policy
	// CookieName is the session cookie's name; default: DefaultCookieName.
	CookieName string
	// Now is the clock; default: time.Now.
	Now func() time.Time
	// Rand supplies decision ids; default: crypto/rand.Reader.
	Rand io.Reader
	// Tracer, when set, traces the stages of each Check; default: none.
	Tracer Tracer
	// Peers, when set, identifies callers without a credential by the mesh
	// peer identity Envoy reports (Request.SourcePrincipal). default: nil
	// (off: such callers are anonymous).
	Peers *PeerIdentity
}

// Authorizer runs the Check pipeline of design.md: parse the target, find
// the credential and its session, ask the policy about every target.
type Authorizer struct {
	sessions   SessionStore
	policy     Policy
	cookieName string
	now        func() time.Time
	rand       io.Reader
	tracer     Tracer
	peers      *PeerIdentity
}

// New returns an Authorizer, filling the defaults of cfg.
func New(cfg Config) (*Authorizer, error) {
	if cfg.Sessions == nil || cfg.Policy == nil {
		return nil, errors.New("authz: Config needs Sessions and Policy")
	}
	if cfg.Peers != nil {
		if err := cfg.Peers.Validate(); err != nil {
			return nil, err
		}
	}
	a := &Authorizer{sessions: cfg.Sessions, policy: cfg.Policy, cookieName: cfg.CookieName, now: cfg.Now, rand: cfg.Rand, peers: cfg.Peers, tracer: cfg.Tracer}
	if a.cookieName == "" {
		a.cookieName = DefaultCookieName
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.rand == nil {
		a.rand = rand.Reader
	}
	return a, nil
}

// CookieName returns the session cookie's name.
func (a *Authorizer) CookieName() string { return a.cookieName }

// Check decides on one request.
//
// It returns a Decision for every request it could decide on, allowed or
// denied; malformed requests, missing credentials and policy denials are all
// Decisions. It returns an error only when it could not decide: the session
// store or the policy failed. Callers must fail closed on an error.
func (a *Authorizer) Check(ctx context.Context, r *Request) (*Decision, error) {
	d := &Decision{ID: a.newID()}
	_, end := a.stage(ctx, StageParse)
	targets, err := tfserving.Parse(tfserving.Request{
		Method:      r.Method,
		Path:        r.Path,
		GRPC:        r.GRPC,
		Body:        r.Body,
		PartialBody: strings.EqualFold(r.Header.Get("X-Envoy-Auth-Partial-Body"), "true"),
		Encoding:    bodyEncoding(r),
	})
	end.End(StageResult{Err: err})
	if err != nil {
		return d.deny(DenyBadRequest, "malformed request: "+err.Error()), nil
	}
	d.Targets = targets

	cred, err := ExtractCredential(r.Header, a.cookieName)
	if err != nil {
		return d.deny(DenyBadRequest, credentialReason(err)), nil
	}
	switch {
	case cred.Kind != "":
		if err := a.lookup(ctx, cred, d); err != nil {
			return nil, err
		}
	case a.peers != nil && r.SourcePrincipal != "":
		// Only a caller with no credential at all is identified by its
		// mesh identity: a presented token that names no session stays
		// anonymous rather than falling back to the workload.
		d.Subject, _ = a.peers.Subject(r.SourcePrincipal)
	}
	if field := unforwardable(d.Subject); field != "" {
		// Envoy (validate_mutations: true) answers an identity header with a
		// control character with a bare 500; say no, and why, instead.
		return d.deny(DenyForbidden, "your "+field+" from the identity provider contains characters that cannot be sent in an HTTP header; ask its administrator to fix the attribute"), nil
	}
	return a.decide(ctx, r, cred, d)
}

func (a *Authorizer) lookup(ctx context.Context, cred Credential, d *Decision) error {
	ctx, end := a.stage(ctx, StageSession)
	s, err := a.sessions.Lookup(ctx, cred.Token)
	end.End(StageResult{Err: ignoreNoSession(err), Found: err == nil})
	switch {
	case errors.Is(err, ErrNoSession):
		d.StaleCredential = cred.Kind
		return nil
	case err != nil:
		return fmt.Errorf("looking up session: %w", err)
	case !s.ExpiresAt.IsZero() && !a.now().Before(s.ExpiresAt):
		// The store should not return expired sessions; do not rely on it.
		d.StaleCredential = cred.Kind
		return nil
	}
	d.SessionHandle = SessionHandle(cred.Token)
	auth := cred.Kind
	if s.Auth != "" && cred.Kind == AuthBearer {
		auth = s.Auth
	}
	d.Subject = &Subject{
		ID: s.Subject, Email: s.Email, Groups: s.Groups, IdP: s.IdP,
		Auth: auth, Scope: s.Scope, ExpiresAt: s.ExpiresAt,
	}
	return nil
}

func (a *Authorizer) decide(ctx context.Context, r *Request, cred Credential, d *Decision) (*Decision, error) {
	in := Input{
		Subject: d.Subject,
		Request: InputRequest{Method: r.Method, Path: r.Path, Host: r.Host, Protocol: ProtocolREST},
	}
	if r.GRPC {
		in.Request.Protocol = ProtocolGRPC
	}
	var headers map[string]string
	for _, t := range d.Targets {
		in.Target = NewInputTarget(t)
		pctx, end := a.stage(ctx, StagePolicy)
		v, err := a.policy.Evaluate(pctx, &in)
		end.End(StageResult{Err: err, Cached: v.Cached})
		if err != nil {
			return nil, fmt.Errorf("evaluating policy: %w", err)
		}
		v.Reason = redactReason(v.Reason, r.Path, []InputTarget{in.Target})
		// The revision comes with the verdict, so a reload between two
		// evaluations cannot mislabel the decision.
		d.PolicyRevision = v.PolicyRevision
		if !v.Allow {
			kind := DenyForbidden
			if d.Subject == nil {
				kind = DenyUnauthenticated
			}
			d.Status = v.Status
			d.deny(kind, v.Reason)
			for name, value := range v.Headers {
				d.Set = append(d.Set, Header{strings.ToLower(name), value})
			}
			return d, nil
		}
		d.Reason = v.Reason
		headers = mergeHeaders(headers, v.Headers)
	}
	d.Allow = true
	d.upstreamHeaders(r, cred, a.cookieName, headers)
	return d, nil
}

func ignoreNoSession(err error) error {
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	return err
}

func (d *Decision) deny(kind Denial, reason string) *Decision {
	d.Allow = false
	d.Denial = kind
	d.Reason = reason
	return d
}

func mergeHeaders(into, from map[string]string) map[string]string {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		into = make(map[string]string, len(from))
	}
	for k, v := range from {
		into[k] = v
	}
	return into
}

func credentialReason(err error) string {
	if errors.Is(err, ErrAmbiguousCredential) {
		return "send either the session cookie or a bearer token, not both"
	}
	return "malformed credential"
}

func (a *Authorizer) newID() string {
	var b [16]byte
	if _, err := io.ReadFull(a.rand, b[:]); err != nil {
		// crypto/rand does not fail on supported platforms; an id is not
		// a secret, so a time-based one is an acceptable fallback.
		return fmt.Sprintf("t%x", a.now().UnixNano())
	}
	var h [32]byte
	hex.Encode(h[:], b[:])
	return string(h[:])
}

// bodyEncoding is how the request body is compressed: grpc-encoding for
// gRPC, Content-Encoding for REST.
func bodyEncoding(r *Request) string {
	if r.GRPC {
		return r.Header.Get("Grpc-Encoding")
	}
	return r.Header.Get("Content-Encoding")
}
