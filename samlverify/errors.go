package samlverify

import "errors"

// Reason is a short, stable code saying why a SAML message, assertion or
// metadata document was refused. It is safe to log and to use as a metric
// label: it never contains any part of the message.
type Reason string

// Reason codes. Each names one check; the verifier stops at the first check
// that fails.
const (
	// ReasonTooLarge: the encoded message is larger than the configured cap.
	ReasonTooLarge Reason = "too_large"
	// ReasonMalformed: not base64, not well-formed XML, XML that does not
	// survive an encoding/xml round trip, duplicate attributes or IDs, or a
	// SAML element missing, repeated or unparsable.
	ReasonMalformed Reason = "malformed"
	// ReasonDoctype: a DOCTYPE, entity declaration or other DTD directive.
	ReasonDoctype Reason = "doctype"
	// ReasonProcInst: a processing instruction other than the XML declaration.
	ReasonProcInst Reason = "processing_instruction"
	// ReasonComment: an XML comment inside the message. Real IdPs send none,
	// and comments are how NameID truncation attacks are built.
	ReasonComment Reason = "comment"
	// ReasonUnsupported: a construct this verifier does not accept, such as
	// an EncryptedID, an unknown Condition or SAML version other than 2.0.
	ReasonUnsupported Reason = "unsupported"
	// ReasonSignatureMissing: nothing signed by the IdP covers the assertion.
	ReasonSignatureMissing Reason = "signature_missing"
	// ReasonSignatureInvalid: a signature does not verify, or its shape is
	// not the one SAML allows (one Reference to the enclosing element's ID).
	ReasonSignatureInvalid Reason = "signature_invalid"
	// ReasonUnsupportedAlgorithm: a signature or canonicalization algorithm
	// outside the allowed set.
	ReasonUnsupportedAlgorithm Reason = "unsupported_algorithm"
	// ReasonSHA1Disabled: a SHA-1 signature or digest while Config.AllowSHA1
	// is false.
	ReasonSHA1Disabled Reason = "sha1_disabled"
	// ReasonUntrustedKey: the certificate in the signature is not one of the
	// IdP's signing certificates.
	ReasonUntrustedKey Reason = "untrusted_key"
	// ReasonCertNotValid: the IdP's certificate that signed is outside its
	// validity period.
	ReasonCertNotValid Reason = "cert_not_valid"
	// ReasonUnknownIdP: the issuer names no configured IdP.
	ReasonUnknownIdP Reason = "unknown_idp"
	// ReasonWrongIssuer: an Issuer differs from the IdP's entity ID.
	ReasonWrongIssuer Reason = "wrong_issuer"
	// ReasonWrongDestination: the Response's Destination is not the ACS URL.
	ReasonWrongDestination Reason = "wrong_destination"
	// ReasonWrongRecipient: the bearer confirmation's Recipient is not the
	// ACS (or token endpoint) URL.
	ReasonWrongRecipient Reason = "wrong_recipient"
	// ReasonNoAudience: the assertion has no AudienceRestriction.
	ReasonNoAudience Reason = "no_audience"
	// ReasonWrongAudience: an AudienceRestriction does not name this SP.
	ReasonWrongAudience Reason = "wrong_audience"
	// ReasonNotYetValid: a NotBefore is still in the future (beyond skew).
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonExpired: a NotOnOrAfter or SessionNotOnOrAfter has passed.
	ReasonExpired Reason = "expired"
	// ReasonReplay: the assertion ID was accepted before.
	ReasonReplay Reason = "replay"
	// ReasonUnknownRequest: InResponseTo is missing, differs between the
	// Response and the assertion, or names no outstanding AuthnRequest.
	ReasonUnknownRequest Reason = "unknown_request"
	// ReasonStatusNotSuccess: the Response's top-level status is not Success.
	ReasonStatusNotSuccess Reason = "status_not_success"
	// ReasonMultipleAssertions: other than exactly one assertion.
	ReasonMultipleAssertions Reason = "multiple_assertions"
	// ReasonNoBearerConfirmation: no SubjectConfirmation with the bearer
	// method.
	ReasonNoBearerConfirmation Reason = "no_bearer_confirmation"
	// ReasonNoAuthnStatement: a Web SSO assertion without AuthnStatement.
	ReasonNoAuthnStatement Reason = "no_authn_statement"
	// ReasonDecryptFailed: an EncryptedAssertion could not be decrypted, or
	// arrived without a decryption key configured. All decryption failures
	// share this code so that it cannot serve as a padding oracle.
	ReasonDecryptFailed Reason = "decrypt_failed"
	// ReasonUnavailable: the replay cache or request-ID store could not
	// answer. This means "could not decide", not "invalid".
	ReasonUnavailable Reason = "unavailable"
	// ReasonMetadataInvalid: an IdP metadata document was refused.
	ReasonMetadataInvalid Reason = "metadata_invalid"
)

// messages holds the static text Error returns for each reason. It never
// varies with the input, so an error can be shown or logged safely.
var messages = map[Reason]string{
	ReasonTooLarge:             "SAML message too large",
	ReasonMalformed:            "malformed SAML message",
	ReasonDoctype:              "SAML message contains a DTD",
	ReasonProcInst:             "SAML message contains a processing instruction",
	ReasonComment:              "SAML message contains a comment",
	ReasonUnsupported:          "unsupported SAML construct",
	ReasonSignatureMissing:     "SAML assertion is not signed",
	ReasonSignatureInvalid:     "invalid SAML signature",
	ReasonUnsupportedAlgorithm: "unsupported SAML signature algorithm",
	ReasonSHA1Disabled:         "SHA-1 SAML signatures are disabled",
	ReasonUntrustedKey:         "SAML signature by an untrusted key",
	ReasonCertNotValid:         "IdP signing certificate is not valid now",
	ReasonUnknownIdP:           "unknown SAML identity provider",
	ReasonWrongIssuer:          "wrong SAML issuer",
	ReasonWrongDestination:     "wrong SAML destination",
	ReasonWrongRecipient:       "wrong SAML recipient",
	ReasonNoAudience:           "SAML assertion has no audience restriction",
	ReasonWrongAudience:        "wrong SAML audience",
	ReasonNotYetValid:          "SAML assertion not yet valid",
	ReasonExpired:              "SAML assertion expired",
	ReasonReplay:               "SAML assertion replayed",
	ReasonUnknownRequest:       "SAML response to an unknown request",
	ReasonStatusNotSuccess:     "SAML status is not success",
	ReasonMultipleAssertions:   "SAML response must hold exactly one assertion",
	ReasonNoBearerConfirmation: "SAML assertion has no bearer confirmation",
	ReasonNoAuthnStatement:     "SAML assertion has no authentication statement",
	ReasonDecryptFailed:        "SAML assertion could not be decrypted",
	ReasonUnavailable:          "SAML state store unavailable",
	ReasonMetadataInvalid:      "invalid SAML metadata",
}

// Error is the error every verification and metadata failure returns. Its
// Error method returns a fixed message for the Reason; the wrapped cause,
// reachable with errors.Unwrap, is for logs and tests and likewise never
// quotes the message, a NameID or an attribute value.
type Error struct {
	// Reason says which check failed.
	Reason Reason
	err    error
	// advice, when set, replaces the Reason's default advice (see Advice).
	advice string
}

// Error returns the fixed, input-independent message for e.Reason.
func (e *Error) Error() string {
	if m, ok := messages[e.Reason]; ok {
		return "samlverify: " + m
	}
	return "samlverify: " + string(e.Reason)
}

// Unwrap returns the cause, which may be nil.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether target is an *Error with the same Reason, so that
// errors.Is(err, &samlverify.Error{Reason: samlverify.ReasonReplay}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// ReasonOf returns the Reason of the first *Error in err's chain, or "" when
// there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// fail returns an *Error with reason r wrapping cause.
func fail(r Reason, cause error) *Error {
	return &Error{Reason: r, err: cause}
}

// failf returns an *Error with reason r wrapping a static cause. msg must
// not contain anything taken from the input.
func failf(r Reason, msg string) *Error {
	return &Error{Reason: r, err: errors.New(msg)}
}

// failAdvice is failf with advice more precise than r's default. Both msg
// and advice must be static text.
func failAdvice(r Reason, msg, advice string) *Error {
	return &Error{Reason: r, err: errors.New(msg), advice: advice}
}
