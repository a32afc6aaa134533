package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// fakeStore is a map of token to session; err, when set, is returned for every lookup.
type fakeStore struct {
	sessions map[string]Session
	err      error
	lookups  int
}

func (f *fakeStore) Lookup(_ context.Context, token string) (Session, error) {
	f.lookups++
	if f.err != nil {
		return Session{}, f.err
	}
	s, ok := f.sessions[token]
	if !ok {
		return Session{}, ErrNoSession
	}
	return s, nil
}

// fakePolicy allows group "ml" to use model "m", and records its inputs.
type fakePolicy struct {
	err    error
	inputs []Input
}

func (f *fakePolicy) Evaluate(_ context.Context, in *Input) (Verdict, error) {
	f.inputs = append(f.inputs, *in)
	if f.err != nil {
		return Verdict{}, f.err
	}
	if in.Target.API == "cors_preflight" {
		return Verdict{Allow: true, Reason: "preflight"}, nil
	}
	if in.Subject == nil {
		return Verdict{Reason: "authentication required"}, nil
	}
	if slices.Contains(in.Subject.Groups, "ml") && in.Target.Model == "m" {
		return Verdict{Allow: true, Reason: "granted", Headers: map[string]string{"X-Tfgate-Tier": "gold"}}, nil
	}
	return Verdict{Reason: "not granted", Status: 403}, nil
}

func newTestAuthorizer(t *testing.T, store *fakeStore, policy *fakePolicy) *Authorizer {
	t.Helper()
	a, err := New(Config{Sessions: store, Policy: policy, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func session(groups ...string) Session {
	return Session{Subject: "alice", Email: "alice@example.com", Groups: groups, IdP: "idp", ExpiresAt: testNow.Add(time.Hour)}
}

func grpcPredict(models ...string) []byte {
	var msg []byte
	for _, m := range models {
		spec := protowire.AppendTag(nil, 1, protowire.BytesType)
		spec = protowire.AppendString(spec, m)
		msg = protowire.AppendTag(msg, 1, protowire.BytesType)
		msg = protowire.AppendBytes(msg, spec)
	}
	frame := []byte{0, 0, 0, 0, byte(len(msg))}
	return append(frame, msg...)
}

func TestCheck(t *testing.T) {
	store := &fakeStore{sessions: map[string]Session{
		"good":    session("ml"),
		"other":   session("sales"),
		"expired": {Subject: "bob", Groups: []string{"ml"}, ExpiresAt: testNow.Add(-time.Second)},
	}}
	tests := map[string]struct {
		req        Request
		allow      bool
		denial     Denial
		wantSet    map[string]string
		wantRemove []string
		cookie     *string
	}{
		"anonymous": {
			req:    Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{}},
			denial: DenyUnauthenticated,
		},
		"unknown token is anonymous": {
			req:    Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{"Authorization": {"Bearer nope"}}},
			denial: DenyUnauthenticated,
		},
		"expired session is anonymous": {
			req:    Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{"Authorization": {"Bearer expired"}}},
			denial: DenyUnauthenticated,
		},
		"cookie allowed": {
			req: Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{
				"Cookie": {"a=1; __Host-tfgate=good; b=2"}, "X-Tfgate-User": {"mallory"}, "X-Tfgate-Admin": {"1"},
			}},
			allow: true,
			wantSet: map[string]string{
				HeaderUser: "alice", HeaderEmail: "alice@example.com", HeaderGroups: "ml",
				HeaderSession: SessionHandle("good"), "x-tfgate-tier": "gold",
			},
			wantRemove: []string{"x-tfgate-admin"},
			cookie:     ptr("a=1; b=2"),
		},
		"bearer allowed": {
			req:        Request{Method: "GET", Path: "/v1/models/m", Header: http.Header{"Authorization": {"Bearer good"}}},
			allow:      true,
			wantSet:    map[string]string{HeaderUser: "alice"},
			wantRemove: []string{"authorization"},
		},
		"forbidden model": {
			req:    Request{Method: "POST", Path: "/v1/models/secret:predict", Header: http.Header{"Authorization": {"Bearer good"}}},
			denial: DenyForbidden,
		},
		"forbidden group": {
			req:    Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{"Authorization": {"Bearer other"}}},
			denial: DenyForbidden,
		},
		"cookie and bearer": {
			req:    Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{"Authorization": {"Bearer good"}, "Cookie": {"__Host-tfgate=good"}}},
			denial: DenyBadRequest,
		},
		"grpc allowed": {
			req:     Request{Method: "POST", Path: "/tensorflow.serving.PredictionService/Predict", GRPC: true, Body: grpcPredict("m"), Header: http.Header{"Authorization": {"Bearer good"}}},
			allow:   true,
			wantSet: map[string]string{HeaderGroups: "ml"},
		},
		"grpc smuggled second model_spec": {
			req:    Request{Method: "POST", Path: "/tensorflow.serving.PredictionService/Predict", GRPC: true, Body: grpcPredict("m", "secret"), Header: http.Header{"Authorization": {"Bearer good"}}},
			denial: DenyForbidden,
		},
		"grpc truncated": {
			req:    Request{Method: "POST", Path: "/tensorflow.serving.PredictionService/Predict", GRPC: true, Body: grpcPredict("m")[:6], Header: http.Header{"Authorization": {"Bearer good"}}},
			denial: DenyBadRequest,
		},
		"grpc partial body": {
			req: Request{Method: "POST", Path: "/tensorflow.serving.PredictionService/Predict", GRPC: true, Body: grpcPredict("m"),
				Header: http.Header{"Authorization": {"Bearer good"}, "X-Envoy-Auth-Partial-Body": {"true"}}},
			denial: DenyBadRequest,
		},
		"anonymous allowed by policy has no identity": {
			req:        Request{Method: "OPTIONS", Path: "/v1/models/m:predict", Header: http.Header{"X-Tfgate-User": {"mallory"}, "X-Tfgate-Groups": {"admins"}}},
			allow:      true,
			wantRemove: []string{HeaderUser, HeaderEmail, HeaderGroups, HeaderSession},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newTestAuthorizer(t, store, &fakePolicy{})
			d, err := a.Check(context.Background(), &tc.req)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if d.Allow != tc.allow || d.Denial != tc.denial {
				t.Fatalf("allow=%v denial=%v reason=%q; want allow=%v denial=%v", d.Allow, d.Denial, d.Reason, tc.allow, tc.denial)
			}
			if d.ID == "" || len(d.ID) != 32 {
				t.Errorf("decision id %q", d.ID)
			}
			set := map[string]string{}
			for _, h := range d.Set {
				set[h.Name] = h.Value
			}
			if tc.allow && set[HeaderDecisionID] != d.ID {
				t.Errorf("decision id header %q, want %q", set[HeaderDecisionID], d.ID)
			}
			for k, v := range tc.wantSet {
				if set[k] != v {
					t.Errorf("header %s = %q, want %q", k, set[k], v)
				}
			}
			for _, k := range tc.wantRemove {
				if !slices.Contains(d.Remove, k) {
					t.Errorf("%s not removed (remove=%v)", k, d.Remove)
				}
			}
			if tc.cookie != nil && (!d.CookieChanged || d.Cookie != *tc.cookie) {
				t.Errorf("cookie = %q (changed %v), want %q", d.Cookie, d.CookieChanged, *tc.cookie)
			}
			if !tc.allow && (len(d.Remove) > 0 || d.CookieChanged) {
				t.Errorf("deny carries upstream mutations: %+v", d)
			}
		})
	}
}

func TestCheckCouldNotDecide(t *testing.T) {
	down := errors.New("redis: connection refused")
	tests := map[string]struct {
		store  *fakeStore
		policy *fakePolicy
		header http.Header
	}{
		"store down":      {&fakeStore{err: down}, &fakePolicy{}, http.Header{"Authorization": {"Bearer good"}}},
		"policy broken":   {&fakeStore{sessions: map[string]Session{"good": session("ml")}}, &fakePolicy{err: ErrInvalidDecision}, http.Header{"Authorization": {"Bearer good"}}},
		"policy broken 2": {&fakeStore{}, &fakePolicy{err: errors.New("eval")}, http.Header{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := newTestAuthorizer(t, tc.store, tc.policy)
			d, err := a.Check(context.Background(), &Request{Method: "POST", Path: "/v1/models/m:predict", Header: tc.header})
			if err == nil || d != nil {
				t.Fatalf("got decision %+v, err %v; want an error and no decision", d, err)
			}
		})
	}
}

func TestCheckPolicyInput(t *testing.T) {
	store := &fakeStore{sessions: map[string]Session{"good": session("ml")}}
	p := &fakePolicy{}
	a := newTestAuthorizer(t, store, p)
	_, err := a.Check(context.Background(), &Request{Method: "POST", Path: "/v1/models/m/versions/3:predict", Host: "h", Header: http.Header{"Authorization": {"Bearer good"}}})
	if err != nil {
		t.Fatal(err)
	}
	in := p.inputs[0]
	if in.Subject == nil || in.Subject.Auth != AuthBearer || in.Subject.ID != "alice" || !in.Subject.ExpiresAt.Equal(testNow.Add(time.Hour)) {
		t.Errorf("subject = %+v", in.Subject)
	}
	if in.Request != (InputRequest{Method: "POST", Path: "/v1/models/m/versions/3:predict", Host: "h", Protocol: ProtocolREST}) {
		t.Errorf("request = %+v", in.Request)
	}
	if in.Target.API != "predict" || in.Target.Model != "m" || in.Target.Version == nil || *in.Target.Version != 3 || in.Target.Label != nil {
		t.Errorf("target = %+v", in.Target)
	}
}

func ptr[T any](v T) *T { return &v }

// sigPolicy allows everything but signature "secret", to show that every
// MultiInference task is decided on its own.
type sigPolicy struct{ evaluated int }

func (p *sigPolicy) Evaluate(_ context.Context, in *Input) (Verdict, error) {
	p.evaluated++
	if in.Target.Signature == "secret" {
		return Verdict{Reason: "signature secret is not granted"}, nil
	}
	return Verdict{Allow: true, Reason: "ok"}, nil
}

func multiInference(sigs ...string) []byte {
	var msg []byte
	for _, sig := range sigs {
		spec := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "m")
		spec = protowire.AppendString(protowire.AppendTag(spec, 3, protowire.BytesType), sig)
		task := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), spec)
		task = protowire.AppendString(protowire.AppendTag(task, 2, protowire.BytesType), "tensorflow/serving/regress")
		msg = protowire.AppendBytes(protowire.AppendTag(msg, 1, protowire.BytesType), task)
	}
	return append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
}

func TestCheckMultiInferenceEveryTask(t *testing.T) {
	store := &fakeStore{sessions: map[string]Session{"good": session("ml")}}
	for name, tc := range map[string]struct {
		sigs  []string
		allow bool
	}{
		"all allowed":       {[]string{"a", "b"}, true},
		"last task denied":  {[]string{"a", "secret"}, false},
		"first task denied": {[]string{"secret", "a"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			p := &sigPolicy{}
			a, _ := New(Config{Sessions: store, Policy: p, Now: func() time.Time { return testNow }})
			d, err := a.Check(context.Background(), &Request{
				Method: "POST", Path: "/tensorflow.serving.PredictionService/MultiInference", GRPC: true,
				Body: multiInference(tc.sigs...), Header: http.Header{"Authorization": {"Bearer good"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tc.allow || len(d.Targets) != len(tc.sigs) {
				t.Fatalf("allow=%v targets=%d reason=%q", d.Allow, len(d.Targets), d.Reason)
			}
		})
	}
}

// TestCheckUnforwardableIdentity: an identity attribute with a control
// character (CR/LF from an IdP attribute, say) cannot be an identity header:
// Envoy with validate_mutations would answer a bare 500. tfgate denies with
// a reason instead, before the policy, and never echoes the value.
func TestCheckUnforwardableIdentity(t *testing.T) {
	bad := map[string]Session{
		"id":    {Subject: "alice\r\nx-tfgate-user: root", Email: "a@example.com", Groups: []string{"ml"}, ExpiresAt: testNow.Add(time.Hour)},
		"email": {Subject: "alice", Email: "a@example.com\x00", Groups: []string{"ml"}, ExpiresAt: testNow.Add(time.Hour)},
		"group": {Subject: "alice", Email: "a@example.com", Groups: []string{"ml", "ops\x7f"}, ExpiresAt: testNow.Add(time.Hour)},
		"utf8":  {Subject: "zoë\tz", Email: "zoë@example.com", Groups: []string{"ml"}, ExpiresAt: testNow.Add(time.Hour)},
	}
	a := newTestAuthorizer(t, &fakeStore{sessions: bad}, &fakePolicy{})
	for token, want := range map[string]string{"id": "user id", "email": "email", "group": "group name", "utf8": ""} {
		t.Run(token, func(t *testing.T) {
			d, err := a.Check(context.Background(), &Request{Method: "POST", Path: "/v1/models/m:predict", Header: http.Header{"Authorization": {"Bearer " + token}}})
			if err != nil {
				t.Fatal(err)
			}
			if want == "" {
				if !d.Allow {
					t.Fatalf("UTF-8 and HTAB are valid header values, got deny %q", d.Reason)
				}
				return
			}
			if d.Allow || d.Denial != DenyForbidden || !strings.Contains(d.Reason, want) {
				t.Fatalf("decision %+v, want a 403 naming %q", d, want)
			}
			if strings.ContainsAny(d.Reason, "\r\n\x00\x7f") {
				t.Fatalf("reason echoes the bad value: %q", d.Reason)
			}
		})
	}
}
