package devidp

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

// Page data. Every page also gets a CSP nonce (see render).
type (
	loginPage struct {
		SP, ACSURL, Action, Token string
		Users                     []User
	}
	postPage struct {
		SP, ACSURL, SAMLResponse, RelayState string
		User                                 User
	}
	signedOutPage struct {
		Refused string // a return URL that was not allowed
	}
	errorPage struct {
		Status  int
		Message string
	}
)

func parsePages() (*template.Template, error) {
	funcs := template.FuncMap{
		"statusText": http.StatusText,
		"initial": func(s string) string {
			if s == "" {
				return "?"
			}
			return strings.ToUpper(string([]rune(s)[:1]))
		},
	}
	return template.New("pages").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
}

// render writes page name with data and the headers every page needs: no
// caching (pages carry one-time tokens and SAML responses), no framing, no
// referrer (the ACS URL's query must not leak), and a CSP that allows only
// this response's own inline style and script.
func (idp *IdP) render(w http.ResponseWriter, status int, name string, data any) {
	nonce, err := idp.randomString(16)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	err = idp.pages.ExecuteTemplate(&buf, name, map[string]any{"Nonce": nonce, "Page": data})
	if err != nil {
		idp.cfg.Logger.Error("devidp: rendering page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	csp := "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce +
		"'; base-uri 'none'; frame-ancestors 'none'"
	if name == "login" {
		csp += "; form-action 'self'"
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
