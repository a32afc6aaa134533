package samlverify

import "errors"

// Advice returns, for an administrator, what caused err and what to change
// (usually on the IdP's side) so that it stops happening: the advice of the
// check that failed when it set one, or else its Reason's. It is static
// text that never quotes the message, so it may be logged and shown on an
// error page. It returns "" when err is not an *Error.
func Advice(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	if e.advice != "" {
		return e.advice
	}
	if a, ok := reasonAdvice[e.Reason]; ok {
		return a
	}
	return "See the log line with this support reference."
}

// Advice texts of checks that know more than their Reason.
const (
	adviceCBCUnsigned = "The IdP encrypts the assertion with AES-CBC inside an unsigned Response. " +
		"CBC has no integrity protection, so without a signature over the ciphertext it is open to " +
		"padding-oracle attacks and tfgate refuses it. Fix at the IdP: encrypt with AES-GCM " +
		"(aes128-gcm or aes256-gcm), or sign the whole Response (not only the assertion)."
	adviceNoDecryptionKey = "The IdP encrypts assertions, but tfgate has no decryption key. Fix: set saml.key_file " +
		"and saml.cert_file and give the IdP tfgate's new metadata (/saml/metadata), or turn off assertion " +
		"encryption at the IdP."
	adviceContentAlgorithm = "The IdP encrypts the assertion with a content algorithm tfgate does not accept. " +
		"Fix at the IdP: encrypt with AES-GCM (aes128-gcm or aes256-gcm)."
	adviceUnsolicited = "The Response answers no AuthnRequest: the sign-in was started at the IdP " +
		"(IdP-initiated, e.g. from an app dashboard), which is off for this IdP. Fix: start sign-in at " +
		"tfgate (the application's URL), or set idp_initiated: true for this IdP in saml.idps after " +
		"reading the login-CSRF warning there."
	adviceUnsolicitedTooOld = "An IdP-initiated Response arrived later than saml.idps[].idp_initiated_max_age " +
		"after it was issued. Fix: synchronize the IdP's clock with tfgate's (NTP); the user can start " +
		"the sign-in again."
	adviceNoPending = "The Response does not answer a sign-in started in this browser: it was started in " +
		"another browser or tab that has since been closed, took longer than saml.request_ttl, or the " +
		"browser blocked tfgate's cookies. Nothing to fix at the IdP; sign in again."
	adviceLogoutUnsigned = "The IdP's LogoutRequest is not signed, and tfgate ends sessions only on a signed one " +
		"(anyone could otherwise sign a user out). Fix at the IdP: sign logout messages (HTTP-Redirect: " +
		"the query-string signature; HTTP-POST: an enveloped signature) with a key from its metadata."
	adviceNotLogoutRequest = "The SAMLRequest sent to /saml/logout is not a LogoutRequest. Fix at the IdP: send " +
		"only logout messages to tfgate's SingleLogoutService."
	adviceLogoutDestination = "The LogoutRequest's Destination is not tfgate's single logout URL. Fix at the IdP: " +
		"register saml.base_url + /saml/logout exactly (scheme, host and port) as the SP's SingleLogoutService."
	adviceLogoutExpired = "The LogoutRequest arrived more than 5 minutes (plus saml.skew) after it was issued, or " +
		"after its NotOnOrAfter. Fix: synchronize the IdP's clock with tfgate's (NTP)."
	adviceLogoutReplay = "This LogoutRequest was received before (a reloaded page or a replay). Nothing was " +
		"ended twice; nothing to fix unless the IdP reuses request IDs."
	adviceMetadataUnsigned = "The IdP's metadata is not signed, but metadata_pins are configured for it. " +
		"Fix: publish signed metadata at the IdP, or remove metadata_pins."
)

// reasonAdvice is each Reason's advice when the failing check set none.
var reasonAdvice = map[Reason]string{
	ReasonTooLarge: "The SAML message is larger than the cap (saml.max_response_bytes, default 256 KiB, " +
		"and saml.max_form_bytes, default 1 MiB, for the whole ACS form). Fix at the IdP: release fewer " +
		"attributes or groups to tfgate; or raise the caps.",
	ReasonMalformed: "The message is not a well-formed SAML 2.0 message (bad base64 or XML, duplicate IDs, " +
		"a missing or repeated element, a bad timestamp). Check the IdP's SAML 2.0 settings and logs, and " +
		"that nothing between the IdP and tfgate rewrites the form.",
	ReasonDoctype: "The message carries a DTD or entity declaration, which tfgate refuses (XML entity attacks). " +
		"Real IdPs send none: check what posts to the ACS.",
	ReasonProcInst: "The message carries an XML processing instruction, which IdPs never send. Check what " +
		"posts to the ACS.",
	ReasonComment: "The message carries an XML comment, which IdPs never send and which NameID truncation " +
		"attacks use. Check what posts to the ACS.",
	ReasonUnsupported: "The message uses a construct tfgate does not accept: a SAML version other than 2.0, " +
		"an encrypted or BaseID subject, or an unknown Condition. Fix at the IdP: send a plain NameID " +
		"(encrypt the whole assertion instead) and standard conditions.",
	ReasonSignatureMissing: "Neither the Response nor the assertion is signed. Fix at the IdP: sign the " +
		"assertion, the Response, or both.",
	ReasonSignatureInvalid: "A signature does not verify, or is not shaped as SAML requires (one enveloped " +
		"signature whose one Reference is its element's ID). If the IdP's key changed, refresh its metadata; " +
		"otherwise check that nothing rewrites the message on the way.",
	ReasonUnsupportedAlgorithm: "The IdP signs or encrypts with an algorithm tfgate does not accept. Fix at " +
		"the IdP: sign with RSA-SHA256 (or ECDSA/RSA-SHA384/512) and exclusive canonicalization; encrypt " +
		"with RSA-OAEP and AES-GCM.",
	ReasonSHA1Disabled: "The IdP signs with SHA-1. Fix at the IdP: sign with RSA-SHA256 and a SHA-256 " +
		"digest; set saml.allow_sha1 only for an IdP that cannot do better.",
	ReasonUntrustedKey: "The signing certificate is not in the IdP's metadata: the IdP probably rolled its " +
		"key. Fix: refresh tfgate's copy of the IdP metadata (metadata_url reloads every refresh_interval; " +
		"replace a metadata_file) or publish the new certificate in the metadata.",
	ReasonCertNotValid: "The IdP's signing certificate is expired or not yet valid. Fix at the IdP: renew " +
		"the certificate and publish new metadata.",
	ReasonUnknownIdP: "The Issuer names no IdP in saml.idps, or the answer comes from another IdP than the " +
		"sign-in went to. Fix: add the IdP's metadata, or make its entity ID match its metadata.",
	ReasonWrongIssuer: "The Issuer is not the IdP's entity ID as its metadata gives it (or has a Format " +
		"other than entity). Fix at the IdP: use the entity ID from its metadata as Issuer.",
	ReasonWrongDestination: "The Destination is not this endpoint's URL. Fix at the IdP: register tfgate's " +
		"URLs exactly as in its metadata (saml.base_url + /saml/acs or /saml/logout: scheme, host and port).",
	ReasonWrongRecipient: "The bearer SubjectConfirmation's Recipient is not tfgate's ACS URL. Fix at the " +
		"IdP: register saml.base_url + /saml/acs as the ACS URL, exactly.",
	ReasonNoAudience: "The assertion has no AudienceRestriction. Fix at the IdP: restrict the assertion to " +
		"tfgate's entity ID.",
	ReasonWrongAudience: "The assertion's Audience is not tfgate's entity ID. Fix at the IdP: set the SP " +
		"entity ID (audience) to saml.entity_id (default saml.base_url + /saml/metadata).",
	ReasonNotYetValid: "The message is valid only in the future: the IdP's clock is ahead of tfgate's by " +
		"more than saml.skew. Fix: synchronize both clocks (NTP).",
	ReasonExpired: "The message had expired when it arrived: the user took too long, or the IdP's clock is " +
		"behind tfgate's by more than saml.skew. Fix: synchronize both clocks (NTP); sign in again.",
	ReasonReplay: "This assertion or message was used before (a reposted form or the back button). Sign in " +
		"again; nothing to fix at the IdP unless it reuses IDs.",
	ReasonUnknownRequest: adviceNoPending,
	ReasonStatusNotSuccess: "The IdP answered without signing the user in (its Status is not Success). Check " +
		"the IdP's logs: often the user is not assigned to this application.",
	ReasonMultipleAssertions: "The Response must carry exactly one assertion. Fix at the IdP: send one.",
	ReasonNoBearerConfirmation: "The assertion has no bearer SubjectConfirmation. Fix at the IdP: use the " +
		"Web Browser SSO profile (bearer confirmation).",
	ReasonNoAuthnStatement: "The assertion has no AuthnStatement. Fix at the IdP: use the Web Browser SSO " +
		"profile, which states how the user authenticated.",
	ReasonDecryptFailed: "The encrypted assertion could not be decrypted: the IdP encrypts for another " +
		"certificate than saml.cert_file, or with a key transport other than RSA-OAEP (RSA PKCS#1 v1.5 is refused). Fix: give " +
		"the IdP tfgate's current metadata (/saml/metadata), or turn off assertion encryption at the IdP.",
	ReasonUnavailable: "The session and replay store (Redis) did not answer. Not an IdP problem: check " +
		"tfgate's connection to Redis.",
	ReasonMetadataInvalid: "The IdP's metadata was refused; the log line's detail says why.",
}
