package envoy

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/webpage"
)

// denyPage is what a person sees when the browser they navigate with is
// refused: who they are, what was refused and why, the decision id to
// quote, and what to do next. API clients keep TF Serving's JSON.
var denyPage = template.Must(template.New("deny").Funcs(template.FuncMap{
	"css": func() template.CSS { return template.CSS(webpage.CSS) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}} — tfgate</title><style>{{css}}</style></head>
<body><main><h1>{{.Title}}</h1>
{{if .User}}<p>You are signed in as <b>{{.User}}</b>{{if .Groups}} (groups: {{range $i, $g := .Groups}}{{if $i}}, {{end}}<code>{{$g}}</code>{{end}}){{else}}, a member of no group{{end}}.</p>{{end}}
<p>tfgate refused <code>{{.Method}} {{.Path}}</code>{{if .Model}} on model <code>{{.Model}}</code>{{end}}.</p>
<p class="why">{{.Reason}}</p>
<p>If you think you should be allowed, ask for a group that grants it{{if .Contact}} (see below){{end}}, quoting the decision id <code>{{.ID}}</code>.</p>
<p><a class="button" href="{{.Home}}">What you may use</a><a class="button secondary" href="{{.Logout}}">Sign out or sign in as someone else</a></p>
{{if .Contact}}<p class="contact">{{.Contact}}</p>{{end}}
</main></body></html>
`))

var denyTitles = map[int]string{
	http.StatusBadRequest: "Request refused", http.StatusForbidden: "Access denied", http.StatusNotFound: "Not found",
}

// htmlDeny renders the deny page of d for r.
func (rs responder) htmlDeny(r *authz.Request, d *authz.Decision, httpStatus int) string {
	title := denyTitles[httpStatus]
	if title == "" {
		title = "Refused"
	}
	data := struct {
		Title, User, Method, Path, Model, Reason, ID, Home, Logout, Contact string
		Groups                                                              []string
	}{
		Title: title, Method: r.Method, Path: r.Path, Reason: d.Reason, ID: d.ID,
		Home: rs.homeURL, Logout: rs.logoutURL, Contact: rs.contact,
	}
	if u, err := url.Parse(r.Path); err == nil {
		data.Path = u.Path // the query may hold anything; the path is what was refused
	}
	if d.Subject != nil {
		data.User, data.Groups = d.Subject.ID, d.Subject.Groups
	}
	if len(d.Targets) > 0 {
		data.Model = d.Targets[0].Model
	}
	var buf bytes.Buffer
	if err := denyPage.Execute(&buf, data); err != nil {
		return ""
	}
	return buf.String()
}
