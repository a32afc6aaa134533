package sp

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/tfgate/tfgate/samlverify"
)

// Conditions the SP refuses on its own, before or after samlverify.
var (
	errNoBinding      = errors.New("sp: no binding cookie (sign-in not started in this browser, expired, or cookies blocked)")
	errBadReturnTo    = errors.New("sp: return_to is not a path on this host or an allowed URL")
	errUnknownIdP     = errors.New("sp: unknown identity provider")
	errBadForm        = errors.New("sp: malformed form")
	errFormTooLarge   = errors.New("sp: form too large")
	errIdPUnusable    = errors.New("sp: the IdP cannot be used with this configuration")
	errCSRF           = errors.New("sp: cross-site request refused")
	errUnavailable    = errors.New("sp: session store unavailable")
	errBadRedirectURI = errors.New("sp: command-line sign-in: redirect_uri is not a loopback http URL with a port")
	errBadCLIRequest  = errors.New("sp: command-line sign-in: malformed request")
	errSessionNotKept = errors.New("sp: command-line sign-in: no session after signing in (cookies blocked?)")
	errTokensOff      = errors.New("sp: command-line sign-in: tokens are not enabled")
	errTokenSession   = errors.New("sp: command-line sign-in: the session cookie holds an access token, not a browser session")
	errCLICSRF        = errors.New("sp: command-line sign-in: confirmation not from this site's page, or its form token is wrong")
)

// outcome is how one failure is shown and logged.
type outcome struct {
	status int
	code   string // logged, and counted if ever exported as a metric label
	page   page
}

// Texts of the error page; none says which check failed.
var (
	pageSignInAgain = page{Title: "Sign-in failed", Message: "This sign-in could not be completed: it may have expired, been used already, or been started in another browser or tab. Please sign in again.", Retry: true}
	pageBadMessage  = page{Title: "Sign-in failed", Message: "The identity provider's answer could not be read. Please sign in again; if it keeps failing, contact support with the reference below.", Retry: true}
	pageRefused     = page{Title: "Sign-in refused", Message: "The identity provider's answer could not be trusted, so you are not signed in. Contact support with the reference below.", Retry: true}
	pageIdPSaidNo   = page{Title: "Not signed in", Message: "The identity provider did not sign you in. You may not be assigned to this application; contact your administrator.", Retry: true}
	pageUnavailable = page{Title: "Temporarily unavailable", Message: "Sign-in is temporarily unavailable. Please try again in a moment.", Retry: true}
	pageBadReturn   = page{Title: "Invalid link", Message: "The address to return to after sign-in is not allowed.", Retry: false}
	pageUnknownIdP  = page{Title: "Unknown identity provider", Message: "No identity provider of that name is configured.", Retry: false}
	pageBadRequest  = page{Title: "Bad request", Message: "The request could not be read.", Retry: true}
	pageCSRF        = page{Title: "Sign-out refused", Message: "Sign-out must be confirmed on this site's own page.", Retry: false}
	pageMisconfig   = page{Title: "Single sign-on misconfigured", Message: "Single sign-on is not set up correctly for this identity provider. Contact your administrator with the reference below.", Retry: false}
	pageBadCLILink  = page{Title: "Invalid sign-in link", Message: "This command-line sign-in link is not valid (its redirect_uri must be http://127.0.0.1:PORT/... or http://[::1]:PORT/..., and it needs a state). Run the command again.", Retry: false}
	pageNotKept     = page{Title: "Sign-in did not stick", Message: "You signed in, but this browser did not keep the session cookie, so the command-line sign-in cannot continue. Allow cookies for this site, then run the command again.", Retry: false}
	pageCLIRefused  = page{Title: "Command-line sign-in refused", Message: "A command-line sign-in must be confirmed on this site's own page, in the browser that shows it. Run the command again.", Retry: false}
	pageTokensOff   = page{Title: "Command-line sign-in unavailable", Message: "This server does not issue tokens for programs.", Retry: false}
	pageInternal    = page{Title: "Something went wrong", Message: "An internal error occurred. Contact support with the reference below.", Retry: true}
)

// reasonOutcomes maps samlverify's reason codes: unreadable messages are
// 400, untrustworthy ones 403, and a store that cannot answer is 503.
var reasonOutcomes = map[samlverify.Reason]outcome{
	samlverify.ReasonTooLarge:             {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonMalformed:            {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonDoctype:              {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonProcInst:             {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonComment:              {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonUnsupported:          {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonMultipleAssertions:   {http.StatusBadRequest, "", pageBadMessage},
	samlverify.ReasonStatusNotSuccess:     {http.StatusForbidden, "", pageIdPSaidNo},
	samlverify.ReasonExpired:              {http.StatusForbidden, "", pageSignInAgain},
	samlverify.ReasonNotYetValid:          {http.StatusForbidden, "", pageSignInAgain},
	samlverify.ReasonReplay:               {http.StatusForbidden, "", pageSignInAgain},
	samlverify.ReasonUnknownRequest:       {http.StatusForbidden, "", pageSignInAgain},
	samlverify.ReasonUnavailable:          {http.StatusServiceUnavailable, "", pageUnavailable},
	samlverify.ReasonSignatureMissing:     {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonSignatureInvalid:     {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonUnsupportedAlgorithm: {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonSHA1Disabled:         {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonUntrustedKey:         {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonCertNotValid:         {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonUnknownIdP:           {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonWrongIssuer:          {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonWrongDestination:     {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonWrongRecipient:       {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonNoAudience:           {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonWrongAudience:        {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonNoBearerConfirmation: {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonNoAuthnStatement:     {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonDecryptFailed:        {http.StatusForbidden, "", pageRefused},
	samlverify.ReasonMetadataInvalid:      {http.StatusForbidden, "", pageRefused},
}

// returnToError is a refused return_to, with the reason a person is shown.
type returnToError struct{ why string }

func (e *returnToError) Error() string { return errBadReturnTo.Error() + ": " + e.why }
func (e *returnToError) Unwrap() error { return errBadReturnTo }

// localOutcomes maps the SP's own errors.
var localOutcomes = []struct {
	err error
	outcome
}{
	{errNoBinding, outcome{http.StatusForbidden, "no_binding", pageSignInAgain}},
	{errBadReturnTo, outcome{http.StatusBadRequest, "bad_return_to", pageBadReturn}},
	{errUnknownIdP, outcome{http.StatusBadRequest, "unknown_idp_name", pageUnknownIdP}},
	{errBadForm, outcome{http.StatusBadRequest, "bad_form", pageBadRequest}},
	{errFormTooLarge, outcome{http.StatusRequestEntityTooLarge, "form_too_large", pageBadRequest}},
	{errCSRF, outcome{http.StatusForbidden, "csrf", pageCSRF}},
	{errIdPUnusable, outcome{http.StatusInternalServerError, "idp_unusable", pageMisconfig}},
	{errUnavailable, outcome{http.StatusServiceUnavailable, "unavailable", pageUnavailable}},
	{errBadRedirectURI, outcome{http.StatusBadRequest, "bad_redirect_uri", pageBadCLILink}},
	{errBadCLIRequest, outcome{http.StatusBadRequest, "bad_cli_request", pageBadCLILink}},
	{errSessionNotKept, outcome{http.StatusForbidden, "session_not_kept", pageNotKept}},
	{errTokensOff, outcome{http.StatusNotFound, "tokens_off", pageTokensOff}},
	{errTokenSession, outcome{http.StatusForbidden, "token_session", pageCLIRefused}},
	{errCLICSRF, outcome{http.StatusForbidden, "cli_csrf", pageCLIRefused}},
}

// localAdvice is the administrator's advice for the SP's own refusals that
// an IdP or a setting can cause (see samlverify.Advice).
var localAdvice = map[string]string{
	"no_binding": "The browser brought no cookie of a sign-in started at tfgate: it was started in another " +
		"browser, took longer than saml.request_ttl, cookies are blocked, or the IdP started the sign-in " +
		"and posted a Response naming a request this browser never made. Sign in again from tfgate.",
	"form_too_large": "The form posted is larger than saml.max_form_bytes (default 1 MiB). Fix at the IdP: " +
		"release fewer attributes or groups to tfgate; or raise saml.max_form_bytes (and max_response_bytes).",
	"idp_unusable": "The IdP's metadata lacks what this configuration needs (e.g. an HTTP-Redirect " +
		"SingleSignOnService, or an encryption or signing certificate). Fix the IdP's metadata.",
}

// outcomeOf maps err to its outcome: the SP's one translation table from
// errors to HTTP. Anything unknown is an internal error.
func outcomeOf(err error) outcome {
	if r := samlverify.ReasonOf(err); r != "" {
		o, ok := reasonOutcomes[r]
		if !ok {
			o = outcome{http.StatusForbidden, "", pageRefused}
		}
		o.code = string(r)
		return o
	}
	for _, l := range localOutcomes {
		if errors.Is(err, l.err) {
			return l.outcome
		}
	}
	return outcome{http.StatusInternalServerError, "internal", pageInternal}
}

// fail answers r with err's error page and logs it once, under a fresh
// support reference shown on the page. The log names the reason code and
// the error, whose text never quotes a SAML message, NameID, token or
// cookie (samlverify guarantees it for its errors, and the SP's own carry
// none).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	o, ref, advice := h.logRefusal(r, err)
	if r.URL.Path == ACSPath {
		h.cfg.event(Event{Kind: EventACS, Outcome: o.code})
	}
	p := o.page
	p.Ref, p.Advice = ref, advice
	if rt := (*returnToError)(nil); errors.As(err, &rt) {
		p.Message = "The address to return to after sign-in is not allowed: " + rt.why + "."
		p.Links = []link{{Text: "Sign in and go to your account page", URL: LoginPath + "?return_to=" + url.QueryEscape(HomePath), Primary: true}}
	}
	if p.Retry {
		p.RetryURL = LoginPath
	}
	h.render(w, o.status, "error", p)
}

// logRefusal logs err once under a fresh support reference, and returns
// its outcome, the reference and the administrator's advice.
func (h *Handler) logRefusal(r *http.Request, err error) (o outcome, ref, advice string) {
	o = outcomeOf(err)
	ref, rerr := h.randomHex(8)
	if rerr != nil {
		ref = "unavailable"
	}
	level := slog.LevelWarn
	if o.status >= 500 {
		level = slog.LevelError
	}
	attrs := []any{"path", r.URL.Path, "status", o.status, "reason", o.code, "ref", ref, "err", err.Error()}
	if cause := errors.Unwrap(err); cause != nil && samlverify.ReasonOf(err) != "" {
		attrs = append(attrs, "detail", cause.Error())
	}
	advice = samlverify.Advice(err)
	if advice == "" {
		advice = localAdvice[o.code]
	}
	if advice != "" {
		attrs = append(attrs, "advice", advice)
	}
	h.cfg.Logger.Log(r.Context(), level, "saml: request refused", attrs...)
	return o, ref, advice
}
