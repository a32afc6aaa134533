package envoyemu

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"
)

// Proxy is the emulated Envoy: an http.Handler running the ext_authz
// filter and the router. It is safe for concurrent use.
type Proxy struct {
	cfg  Config
	rand io.Reader // cfg.Rand behind a mutex

	h1, h2 *http.Transport

	mu   sync.Mutex
	last *authv3.CheckRequest
}

var _ http.Handler = (*Proxy)(nil)

// New validates cfg, fills its defaults and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Proxy{
		cfg:  cfg,
		rand: &lockedReader{r: cfg.Rand},
		h1:   newTransport(false),
		h2:   newTransport(true),
	}, nil
}

// LastCheck returns a copy of the most recent CheckRequest sent, or nil.
func (p *Proxy) LastCheck() *authv3.CheckRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		return nil
	}
	return proto.Clone(p.last).(*authv3.CheckRequest)
}

// Close closes idle upstream connections.
func (p *Proxy) Close() {
	p.h1.CloseIdleConnections()
	p.h2.CloseIdleConnections()
}

// ServeHTTP runs one downstream request through the connection manager and
// the filter chain.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := p.cfg.Now()
	path := rawPath(r)
	h := hcmHeaders(r, path, p.rand)
	grpc := isGRPC(h)
	if status := p.connectionManager(r, h); status != 0 {
		p.sendLocalReply(w, grpc, localReply{status: status})
		return
	}
	for _, k := range p.cfg.RemoveHeaders { // header_mutation, ahead of ext_authz
		delete(h, strings.ToLower(k))
	}
	route := p.match(h)
	if route == nil { // §1.6: no check; the router answers 404
		p.sendLocalReply(w, grpc, localReply{status: http.StatusNotFound})
		return
	}
	up := upstreamRequest{route: route, headers: h, body: r.Body}
	if !route.DisableAuthz && !p.authorize(w, r, &up, received, grpc) {
		return
	}
	p.forward(w, r, up, grpc)
}

// match returns the first route that matches the (normalised) path without
// its query and, for gRPC-only routes, the content-type.
func (p *Proxy) match(h headerMap) *Route {
	path, _, _ := strings.Cut(h.get(hdrPath), "?")
	for i := range p.cfg.Routes {
		r := &p.cfg.Routes[i]
		switch {
		case r.Prefix != "" && !strings.HasPrefix(path, r.Prefix):
		case r.Path != "" && path != r.Path:
		case r.GRPC && !isGRPC(h):
		default:
			return r
		}
	}
	return nil
}

// authorize runs the ext_authz filter: buffer, Check, classify, then
// mutate up (OK, or Error with failure_mode_allow) or reply locally. It
// reports whether the request continues upstream.
func (p *Proxy) authorize(w http.ResponseWriter, r *http.Request, up *upstreamRequest, received time.Time, grpc bool) bool {
	in := checkInput{r: r, headers: up.headers, route: up.route, received: received}
	if s := p.bufferSettings(up.route); s != nil && shouldBuffer(r, up.headers) {
		buf, err := readBody(r.Body, s)
		if err != nil {
			panic(http.ErrAbortHandler) // downstream reset: Envoy resets too
		}
		if buf.tooLarge { // never calls Check, even with failure_mode_allow
			p.sendLocalReply(w, grpc, localReply{status: http.StatusRequestEntityTooLarge, body: "Payload Too Large"})
			return false
		}
		in.buffer, in.settings = &buf, s
		up.body = io.MultiReader(bytes.NewReader(buf.data), r.Body)
	}
	req := p.buildCheckRequest(in)
	resp, err := p.check(r.Context(), req)
	ex := Exchange{Request: req, Response: resp, Err: err, Outcome: p.classifyResponse(resp, err)}
	if p.cfg.OnCheck != nil {
		p.cfg.OnCheck(ex)
	}
	switch ex.Outcome {
	case OutcomeOK:
		ok := resp.GetOkResponse()
		if err := p.applyOK(up.headers, ok); err != nil {
			p.sendLocalReply(w, grpc, localReply{status: http.StatusInternalServerError})
			return false
		}
		up.responseAdds = classify(ok.GetResponseHeadersToAdd(), responseRule)
		return true
	case OutcomeDenied:
		d := resp.GetDeniedResponse()
		status := int(d.GetStatus().GetCode())
		if status <= 0 {
			status = http.StatusForbidden
		}
		headers := classify(d.GetHeaders(), deniedRule)
		if p.cfg.ValidateMutations && !validMutations(headers) { // ext_authz.cc:921-932 at v1.36.2
			p.sendLocalReply(w, grpc, localReply{status: http.StatusInternalServerError})
			return false
		}
		p.sendLocalReply(w, grpc, localReply{status: status, body: p.cutBody(d.GetBody()), headers: headers})
		return false
	}
	return p.onError(w, up, resp, grpc)
}

// validMutations reports whether every kept mutation has a valid name and
// value.
func validMutations(muts []mutation) bool {
	for _, m := range muts {
		if m.op != opDrop && (!validHeaderName(m.key) || !validHeaderValue(m.value)) {
			return false
		}
	}
	return true
}

// cutBody applies max_denied_response_body_bytes.
func (p *Proxy) cutBody(body string) string {
	if n := p.cfg.MaxDeniedResponseBodyBytes; n > 0 && len(body) > n {
		return body[:n]
	}
	return body
}

// onError is the Error path (§4.2): ext_authz.cc:967-995 at v1.36.2,
// 1016-1068 at v1.37.0 (error_response).
func (p *Proxy) onError(w http.ResponseWriter, up *upstreamRequest, resp *authv3.CheckResponse, grpc bool) bool {
	rep := localReply{status: toErrorCode(p.cfg.StatusOnError)}
	if e := resp.GetErrorResponse(); e != nil && p.cfg.Mode == V137 {
		custom := localReply{status: int(e.GetStatus().GetCode()), body: e.GetBody(), headers: classify(e.GetHeaders(), errorRule)}
		if p.cfg.ValidateMutations && !validMutations(custom.headers) {
			custom = localReply{} // invalid custom reply: the generic one
		}
		if custom.status > 0 {
			rep.status = custom.status
		}
		rep.body, rep.headers = p.cutBody(custom.body), custom.headers
	}
	if p.cfg.FailureModeAllow {
		if p.cfg.FailureModeAllowHeaderAdd {
			up.headers.addCopy(hdrFailureModeAllow, "true") // an add: a client copy survives
		}
		return true
	}
	p.sendLocalReply(w, grpc, rep)
	return false
}

// check calls the authorization service with the configured deadline and
// remembers the request.
func (p *Proxy) check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	p.mu.Lock()
	p.last = req
	p.mu.Unlock()
	if p.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
	}
	return p.cfg.Authz.Check(ctx, req)
}

// classifyResponse applies §2.
func (p *Proxy) classifyResponse(resp *authv3.CheckResponse, err error) Outcome {
	switch {
	case err != nil:
		return OutcomeError
	case resp.GetStatus().GetCode() == 0:
		return OutcomeOK
	case p.cfg.Mode == V137 && resp.GetErrorResponse() != nil:
		return OutcomeError
	}
	return OutcomeDenied
}

// lockedReader serialises reads from a shared random source.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(b)
}
