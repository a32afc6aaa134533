package sp

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/tfgate/tfgate/internal/webpage"
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
	// confirmation form, or of the form that posts a SAML message on.
	Fields []formField
	// Action is where the "postform" page posts Fields.
	Action string
	// Links are what the person can do next.
	Links []link
	// Contact is the config's line saying whom to ask.
	Contact string
	// Home is the account page's content.
	Home *home
}

// link is one "what next" link; Primary ones are buttons.
type link struct {
	Text, URL string
	Primary   bool
}

// home is what the account page shows.
type home struct {
	Subject, Name, Email, IdP string
	Groups                    []string
	ExpiresAt                 string
	Grants                    []Grant
	ListGrants                bool
	Server                    string
}

// formField is one hidden form field.
type formField struct{ Name, Value string }

// pageTemplates holds every page; "top" and "bottom" frame them.
var pageTemplates = template.Must(template.New("pages").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(webpage.CSS) },
}).Parse(`
{{define "top"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}} — tfgate</title><style>{{css}}</style></head>
<body><main><h1>{{.Title}}</h1>{{end}}
{{define "bottom"}}{{if .Links}}<p>{{range .Links}}<a class="button{{if not .Primary}} secondary{{end}}" href="{{.URL}}">{{.Text}}</a>{{end}}</p>
{{end}}{{if .Contact}}<p class="contact">{{.Contact}}</p>
{{end}}</main></body></html>
{{end}}
{{define "error"}}{{template "top" .}}<p>{{.Message}}</p>
{{if .Retry}}<p><a href="{{.RetryURL}}">Sign in again</a></p>
{{end}}{{if .Ref}}<p class="ref">Support reference: <code>{{.Ref}}</code></p>
{{end}}{{if .Advice}}<p class="ref">For the administrator: {{.Advice}}</p>
{{end}}{{template "bottom" .}}{{end}}
{{define "info"}}{{template "top" .}}<p>{{.Message}}</p>
{{template "bottom" .}}{{end}}
{{define "home"}}{{template "top" .}}{{with .Home}}{{if .Subject}}<p>{{$.Message}}</p>
<dl><dt>Signed in as</dt><dd><b>{{.Subject}}</b>{{if .Name}} ({{.Name}}){{end}}</dd>
{{if .Email}}<dt>Email</dt><dd>{{.Email}}</dd>
{{end}}<dt>Groups</dt><dd>{{range $i, $g := .Groups}}{{if $i}}, {{end}}<code>{{$g}}</code>{{else}}none{{end}}</dd>
<dt>Identity provider</dt><dd>{{.IdP}}</dd>
<dt>Session ends</dt><dd>{{.ExpiresAt}}</dd></dl>
{{if .ListGrants}}<h2>What your groups may use</h2>
{{if .Grants}}<table><tr><th>Group</th><th>Models</th><th>APIs</th><th>Versions / labels</th></tr>
{{range .Grants}}<tr><td><code>{{.Group}}</code></td><td>{{range $i, $m := .Models}}{{if $i}}, {{end}}<code>{{$m}}</code>{{end}}</td><td>{{range $i, $a := .APIs}}{{if $i}}, {{end}}{{$a}}{{end}}</td><td>{{range $i, $v := .Versions}}{{if $i}}, {{end}}{{if eq $v "*"}}every version{{else}}{{$v}}{{end}}{{end}}{{if .Labels}}{{if .Versions}}; {{end}}{{range $i, $l := .Labels}}{{if $i}}, {{end}}{{if eq $l "*"}}every label{{else}}label {{$l}}{{end}}{{end}}{{end}}</td></tr>
{{end}}</table>
{{else}}<p>None of your groups is granted any model by the policy in force. Ask for a group that is.</p>
{{end}}{{end}}<h2>Programs and scripts</h2>
<p>Sign a program in with the <code>extauthz</code> command; it opens this browser once:</p>
<pre>extauthz login --server {{.Server}}
curl -H "Authorization: Bearer $(extauthz token)" {{.Server}}/v1/models/MODEL</pre>
{{else}}<p>{{$.Message}}</p>{{end}}{{end}}
{{template "bottom" .}}{{end}}
{{define "logout"}}{{template "top" .}}<p>{{.Message}}</p>
<form method="post" action="` + LogoutPath + `"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form>
{{template "bottom" .}}{{end}}
{{define "cliconsent"}}{{template "top" .}}<p>{{.Message}}</p>
<p>Allow it only if you just ran <code>extauthz login</code> on this computer.</p>
<form method="post" action="` + CLIAuthorizePath + `">{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}<input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="cancel" class="secondary">Cancel</button></form>
{{template "bottom" .}}{{end}}
{{define "postform"}}{{template "top" .}}<p>{{.Message}}</p>
<form method="post" action="{{.Action}}">{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}<noscript><button type="submit">Continue</button></noscript></form>
<script>` + webpage.AutoSubmitJS + `</script>
{{template "bottom" .}}{{end}}
{{define "signedout"}}{{template "top" .}}<p>{{.Message}}</p>
{{template "bottom" .}}{{end}}
{{define "unconfigured"}}{{template "top" .}}<p>{{.Message}}</p>
{{template "bottom" .}}{{end}}
`))

// render writes page name with p and the headers every page needs.
func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	p.Contact = h.cfg.Contact
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
	if name == "postform" {
		hd.Set("Content-Security-Policy", webpage.CSPAutoSubmit)
	} else {
		hd.Set("Content-Security-Policy", webpage.CSP)
	}
	hd.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
