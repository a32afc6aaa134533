package authz

import (
	"context"
	"fmt"
)

// PolicyDecided reports whether the policy decided this record, so that
// asking a policy again means something. Requests refused before the policy
// (malformed request or credential) and failures to decide carry no policy
// revision.
func (rec *DecisionRecord) PolicyDecided() bool {
	return rec.Error == "" && rec.PolicyRevision != ""
}

// Input returns the policy input for the record's target i, as the
// Authorizer built it for the live decision. The query string of the path
// is not in the log (it may hold secrets), so a policy that reads it sees
// "?…" instead.
func (rec *DecisionRecord) Input(i int) Input {
	in := Input{Request: InputRequest{Method: rec.Method, Path: rec.Path, Host: rec.Host, Protocol: rec.Protocol}}
	if rec.Auth != "" || rec.Subject != "" {
		in.Subject = &Subject{
			ID: rec.Subject, Email: rec.Email, Groups: rec.Groups, IdP: rec.IdP,
			Auth: rec.Auth, Scope: rec.Scope, ExpiresAt: rec.ExpiresAt,
		}
	}
	if i < len(rec.Targets) {
		in.Target = rec.Targets[i]
	}
	return in
}

// Redecide asks p about a logged decision again, with the Authorizer's
// rules: every target is evaluated in order, the first deny decides, and a
// request is allowed when every target is. The record must be
// PolicyDecided. An error means p could not decide, never a deny.
func Redecide(ctx context.Context, p Policy, rec *DecisionRecord) (Verdict, error) {
	if !rec.PolicyDecided() {
		return Verdict{}, fmt.Errorf("%w: decision %s was not made by the policy", ErrNotReplayable, rec.DecisionID)
	}
	return rec.Decide(ctx, p)
}

// Decide evaluates p on every target of the record, with the Authorizer's
// rules, whether or not the policy decided the record live (for
// `policy eval` on a hand-edited line). A record without targets is allowed,
// as the Authorizer would.
func (rec *DecisionRecord) Decide(ctx context.Context, p Policy) (Verdict, error) {
	var last Verdict
	for i := range rec.Targets {
		in := rec.Input(i)
		v, err := p.Evaluate(ctx, &in)
		if err != nil {
			return Verdict{}, fmt.Errorf("evaluating policy: %w", err)
		}
		if !v.Allow {
			return v, nil
		}
		last = v
	}
	last.Allow = true
	return last, nil
}
