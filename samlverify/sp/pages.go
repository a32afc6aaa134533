package sp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// page is what a page template shows.
type page struct {
	Title, Message string
	// Ref is the support reference of an error page.
	Ref string
	// Advice, on an error page, tells the administrator the cause and the
	// fix (samlverify.Advice: static text, the same in the log line of
	// Ref).
	Advice string
	// Retry offers a "sign in again" link to RetryURL.
	Retry    bool
	RetryURL string
	// CSRF is the logout or confirmation form's token.
	CSRF string
	// Fields are the hidden fields of the command-line sign-in's
	// confirmation form.
	Fields []formField
}

// formField is one hidden form field.
type formField struct{ Name, Value string }

// pageCSS is the only style of every page. The CSP allows exactly this
// text by its hash, so pages need no per-response nonce.
const pageCSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}` +
	`main{max-width:34rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}` +
	`h1{font-size:1.4rem;margin-top:0}.ref{color:#5b6475;font-size:.9rem}code{font-size:.95em}` +
	`button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:6px;background:#2457c5;color:#fff;cursor:pointer}` +
	`button.secondary{background:#e4e7ec;color:#1d2330;margin-left:.5rem}`

// pageTemplates holds every page; "top" and "bottom" frame them.
var pageTemplates = template.Must(template.New("pages").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(pageCSS) },
}).Parse(`
{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}} — tfgate</title><style>{{css}}</style></head>
<body><main><h1>{{.Title}}</h1>{{end}}
{{define "bottom"}}</main></body></html>
{{end}}
{{define "error"}}{{template "top" .}}<p>{{.Message}}</p>
{{if .Retry}}<p><a href="{{.RetryURL}}">Sign in again</a></p>
{{end}}{{if .Ref}}<p class="ref">Support reference: <code>{{.Ref}}</code></p>
{{end}}{{if .Advice}}<p class="ref">For the administrator: {{.Advice}}</p>
{{end}}{{template "bottom"}}{{end}}
{{define "logout"}}{{template "top" .}}<p>{{.Message}}</p>
<form method="post" action="` + LogoutPath + `"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form>
{{template "bottom"}}{{end}}
{{define "cliconsent"}}{{template "top" .}}<p>{{.Message}}</p>
<p>Allow it only if you just ran <code>extauthz login</code> on this computer.</p>
<form method="post" action="` + CLIAuthorizePath + `">{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}<input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="cancel" class="secondary">Cancel</button></form>
{{template "bottom"}}{{end}}
{{define "signedout"}}{{template "top" .}}<p>{{.Message}}</p>
<p><a href="/">Continue</a> · <a href="` + LoginPath + `">Sign in again</a></p>
{{template "bottom"}}{{end}}
{{define "unconfigured"}}{{template "top" .}}<p>{{.Message}}</p>
{{template "bottom"}}{{end}}
`))

// pageCSP allows nothing but pageCSS, and no framing. form-action is left
// open on purpose: the logout form's answer redirects to the IdP's single
// logout endpoint, and browsers apply form-action to that redirect.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; frame-ancestors 'none'"
}()

// render writes page name with p and the headers every page needs.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	renderPage(w, status, name, p)
}

// renderPage is render without a Handler, for Unconfigured.
func renderPage(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, name, p); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
