package authz

import (
	"context"
	"time"

	"github.com/tfgate/tfgate/authz/tfserving"
)

// Input is the document a policy decides on (input in Rego). Its JSON shape
// is part of tfgate's contract with policy authors; see design.md.
type Input struct {
	// Subject is nil when the caller is anonymous.
	Subject *Subject     `json:"subject"`
	Request InputRequest `json:"request"`
	Target  InputTarget  `json:"target"`
}

// Subject is the caller as policies see it.
type Subject struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Groups    []string  `json:"groups"`
	IdP       string    `json:"idp"`
	Auth      string    `json:"auth"` // AuthCookie, AuthBearer, AuthMTLS or AuthK8s
	Scope     []string  `json:"scope,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// InputRequest is the part of the HTTP request policies may look at.
type InputRequest struct {
	Method   string `json:"method"`
	Path     string `json:"path"`
	Host     string `json:"host"`
	Protocol string `json:"protocol"` // "rest" or "grpc"
}

// Protocols of InputRequest.Protocol.
const (
	ProtocolREST = "rest"
	ProtocolGRPC = "grpc"
)

// InputTarget is one TF Serving target as policies see it. Version and
// Label are null when the request does not name them.
type InputTarget struct {
	API       string  `json:"api"`
	Model     string  `json:"model"`
	Version   *int64  `json:"version"`
	Label     *string `json:"label"`
	Signature string  `json:"signature"`
	Method    string  `json:"method,omitempty"`
}

// NewInputTarget converts a parsed target to its policy form.
func NewInputTarget(t tfserving.Target) InputTarget {
	it := InputTarget{API: string(t.API), Model: t.Model, Signature: t.Signature, Method: t.Method}
	if t.HasVersion {
		v := t.Version
		it.Version = &v
	}
	if t.HasLabel {
		l := t.Label
		it.Label = &l
	}
	return it
}

// Verdict is a policy's answer: data.tfgate.authz.decision.
type Verdict struct {
	Allow  bool
	Reason string
	// Status is an optional HTTP status for a deny (0: tfgate chooses).
	Status int
	// Headers are optional extra headers: sent upstream on allow, to the
	// client on deny.
	Headers map[string]string
	// PolicyRevision identifies the policy that decided, for the decision
	// log; set by policies that can name it.
	PolicyRevision string
	// Cached is true when the verdict came from a decision cache rather
	// than an evaluation, for tracing.
	Cached bool
}

// Policy decides on one Input.
//
// Evaluate returns a Verdict (allow or deny, both normal outcomes) or an
// error when the policy could not decide: it failed to evaluate, was
// undefined, or answered an invalid shape (ErrInvalidDecision). The caller
// must never turn an error into an allow.
type Policy interface {
	Evaluate(ctx context.Context, in *Input) (Verdict, error)
}
