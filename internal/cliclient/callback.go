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

	"github.com/tfgate/tfgate/internal/webpage"
)

var (
	errStateMismatch = errors.New("this answer does not belong to the login in progress (its state does not match)")
	errNoCode        = errors.New("the sign-in's answer has no code")
)

// receiver serves the loopback redirect of one login. The first answer at
// /callback with this login's state ends the wait, whatever else it says.
// One without it (a stale answer, or any local page or program reaching
// the port) is refused with a page and ends nothing, so it cannot abort
// the login. Everything else on the port is a 404.
type receiver struct {
	srv    *http.Server
	state  string
	server string // what the page names
	origin string // the listener's http://127.0.0.1:PORT, which the page names too
	finish func(ctx context.Context, code string) error

	ctx context.Context // the login's, for finish

	mu     sync.Mutex
	closed bool
	done   chan error // receives the outcome once
}

func newReceiver(ctx context.Context, ln net.Listener, state, server string, finish func(context.Context, string) error) *receiver {
	r := &receiver{state: state, server: server, origin: "http://" + ln.Addr().String(), finish: finish, ctx: ctx, done: make(chan error, 1)}
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
	q := req.URL.Query()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.page(w, http.StatusConflict, "This sign-in is already over", "Return to the terminal.")
		return
	}
	if len(q["state"]) != 1 || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(r.state)) != 1 {
		r.mu.Unlock()
		r.page(w, http.StatusBadRequest, "Not this sign-in's answer", errStateMismatch.Error()+". The sign-in in progress goes on.")
		return
	}
	r.closed = true
	r.mu.Unlock()
	err := errNoCode
	switch {
	case q.Get("error") != "":
		err = fmt.Errorf("the server refused the sign-in: %w", &oauthError{Code: q.Get("error"), Description: q.Get("error_description")})
	case q.Get("code") != "":
		err = r.finish(r.ctx, q.Get("code"))
	}
	if err != nil {
		r.page(w, http.StatusBadRequest, "Sign-in failed", err.Error()+". Return to the terminal.")
	} else {
		r.page(w, http.StatusOK, "Signed in", "extauthz is signed in to "+r.server+". You can close this tab and return to the terminal.")
	}
	r.done <- err
}

// callbackPage has the look of tfgate's own pages (internal/webpage), so
// the sign-in ends on a page like the ones before it.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}} — tfgate</title><style>{{.CSS}}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Text}}</p>
<p class="contact">This page comes from <code>extauthz login</code> on this computer ({{.Origin}}), not from the server.</p></main></body></html>
`))

// page writes the small page the browser shows at the end. The URL that
// led here carried a code: no caching, no referrer.
func (r *receiver) page(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", webpage.CSP)
	w.WriteHeader(status)
	_ = callbackPage.Execute(w, struct {
		Title, Text, Origin string
		CSS                 template.CSS
	}{title, text, r.origin, template.CSS(webpage.CSS)})
}
