package cliclient

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"sync"
	"time"
)

var (
	errStateMismatch = errors.New("the sign-in's answer does not belong to this login (state mismatch): run `extauthz login` again")
	errNoCode        = errors.New("the sign-in's answer has no code")
)

// receiver serves the loopback redirect of one login. The first answer at
// /callback ends the wait, whatever it says: one whose state does not
// match is a stale or forged answer and fails the login rather than being
// waited past. Everything else on the port is a 404.
type receiver struct {
	srv    *http.Server
	state  string
	server string // what the page names
	finish func(ctx context.Context, code string) error

	ctx context.Context // the login's, for finish

	mu     sync.Mutex
	closed bool
	done   chan error // receives the outcome once
}

func newReceiver(ctx context.Context, ln net.Listener, state, server string, finish func(context.Context, string) error) *receiver {
	r := &receiver{state: state, server: server, finish: finish, ctx: ctx, done: make(chan error, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", r.handle)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return r
}

// wait returns the outcome of the sign-in, or ctx's error, and stops
// serving once the page with the outcome has been written.
func (r *receiver) wait(ctx context.Context) error {
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		err = ctx.Err()
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	r.srv.Shutdown(sctx)
	return err
}

// handle takes the authorization response (RFC 6749 §4.1.2): code and
// state, or error and error_description.
func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.page(w, http.StatusConflict, "This sign-in is already over", "Return to the terminal.")
		return
	}
	r.closed = true
	r.mu.Unlock()
	q := req.URL.Query()
	err := errNoCode
	switch {
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(r.state)) != 1:
		err = errStateMismatch
	case q.Get("error") != "":
		err = fmt.Errorf("the server refused the sign-in: %w", &oauthError{Code: q.Get("error"), Description: q.Get("error_description")})
	case q.Get("code") != "":
		err = r.finish(r.ctx, q.Get("code"))
	}
	if err != nil {
		r.page(w, http.StatusBadRequest, "Sign-in failed", err.Error()+". Return to the terminal.")
	} else {
		r.page(w, http.StatusOK, "Signed in", "extauthz is signed in to "+r.server+". You can close this tab.")
	}
	r.done <- err
}

var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} — tfgate</title>
<style>body{font:16px system-ui,sans-serif;margin:4em auto;max-width:36em;color:#222}h1{font-size:1.4em}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// page writes the small page the browser shows at the end. The URL that
// led here carried a code: no caching, no referrer.
func (r *receiver) page(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = callbackPage.Execute(w, struct{ Title, Text string }{title, text})
}
