// Package samlverify verifies SAML 2.0 Web SSO Responses (HTTP-POST
// binding) and bare bearer assertions (RFC 7522), and loads the metadata of
// the identity providers it trusts. It is the security core of tfgate's
// Service Provider; samlverify/sp builds the HTTP endpoints on top of it.
//
// # Verifying
//
// New builds a Verifier from a Config, an IdPSource (an *IdPSet, or a
// *Source that refreshes metadata) and a ReplayCache (authz/session's
// stores). VerifyResponse takes the SAMLResponse form value and returns an
// *Identity; VerifyAssertion does the same for the token endpoint.
//
// Verification trusts only what goxmldsig returns: after a signature
// verifies, every field is read from the element goxmldsig rebuilt from the
// bytes it digested, never from the document as received. A signature on
// the Response, on the Assertion or on both is accepted, as long as one
// covers the assertion used; a signature that is present must verify. Before
// any of that, a message must pass shape checks that close the known XML
// signature wrapping variants on their own: exactly one assertion and one
// Response anywhere in the message, unique IDs, and signatures in the single
// form SAML allows (one ds:Signature child of the signed element, one
// Reference to its ID, exclusive canonicalization, enveloped transform).
//
// The XML itself is checked before it is parsed into a tree: DTDs and
// entity declarations, processing instructions and comments inside the
// message are refused, and the message must survive an encoding/xml round
// trip unchanged (github.com/mattermost/xml-roundtrip-validator).
//
// # Errors
//
// Every failure is an *Error whose Reason is a stable code for logs and
// metrics and whose Error text is fixed per reason. Neither the text nor the
// wrapped cause ever quotes the message, a NameID or an attribute value.
// ReasonUnavailable alone means the state store could not answer (could not
// decide); every other reason means the message is refused.
//
// # Time
//
// Config.Clock (a *dsig.Clock; nil is real time) is read once per
// verification, and that one reading is used for the signing certificate's
// validity and for every NotBefore/NotOnOrAfter, so tests pin both with
// dsig.NewFakeClockAt.
//
// # Metadata
//
// ParseMetadata reads an EntityDescriptor or EntitiesDescriptor, verifying
// its signature against pinned certificates or SHA-256 fingerprints when
// pins are given. Source keeps several IdPs from files and HTTPS URLs,
// refreshes them on a timer bounded by cacheDuration and validUntil, keeps
// the last good copy in memory and in a cache file when a refresh fails, and
// reports signing certificates near expiry through a hook.
package samlverify
