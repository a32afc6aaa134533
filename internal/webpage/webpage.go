// Package webpage is the look of every HTML page tfgate shows a person:
// the sign-in pages of samlverify/sp, the deny page of the Check path, and
// the loopback page that ends `extauthz login` (internal/cliclient).
// One stylesheet, allowed by its hash in one Content-Security-Policy, so
// pages need no per-response nonce and load nothing.
package webpage

import (
	"crypto/sha256"
	"encoding/base64"
)

// CSS is the only style of every page.
const CSS = `body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}` +
	`main{max-width:36rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}` +
	`h1{font-size:1.4rem;margin-top:0}h2{font-size:1.05rem;margin:1.5rem 0 .4rem}.ref{color:#5b6475;font-size:.9rem}code{font-size:.95em}` +
	`button{font:inherit;padding:.5rem 1.2rem;border:0;border-radius:6px;background:#2457c5;color:#fff;cursor:pointer}` +
	`button.secondary{background:#e4e7ec;color:#1d2330;margin-left:.5rem}` +
	`a.button{display:inline-block;padding:.45rem 1.1rem;border-radius:6px;background:#2457c5;color:#fff;text-decoration:none;margin:.2rem .4rem .2rem 0}` +
	`a.button.secondary{background:#e4e7ec;color:#1d2330}` +
	`dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:1rem 0}dt{color:#5b6475}dd{margin:0}` +
	`table{border-collapse:collapse;width:100%;font-size:.95rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e4e7ec;vertical-align:top}td code{white-space:nowrap}` +
	`pre{background:#f1f3f6;padding:.6rem .8rem;border-radius:6px;overflow-x:auto;font-size:.9rem}` +
	`.why{background:#fff4e5;border-left:4px solid #e08a00;padding:.6rem .8rem;border-radius:4px}` +
	`.contact{margin-top:2rem;padding-top:1rem;border-top:1px solid #e4e7ec;color:#5b6475;font-size:.9rem}`

// CSP allows nothing but CSS, and no framing. form-action is left open on
// purpose: the sign-out form's answer redirects to the IdP's single logout
// endpoint, and browsers apply form-action to that redirect.
var CSP = func() string {
	sum := sha256.Sum256([]byte(CSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; frame-ancestors 'none'"
}()

// AutoSubmitJS submits a page's first form as soon as it loads: the
// HTTP-POST binding's way of sending a SAML message on through the
// browser. It is a fixed script, allowed by its hash in CSPAutoSubmit.
const AutoSubmitJS = `document.forms[0].submit()`

// CSPAutoSubmit is CSP plus AutoSubmitJS, for the pages that post a SAML
// message on; they carry a button for browsers without scripts.
var CSPAutoSubmit = func() string {
	sum := sha256.Sum256([]byte(AutoSubmitJS))
	return CSP + "; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()
