// Package pysaml2idp drives Debian's python3-pysaml2 as an independent SAML
// 2.0 Identity Provider for interop tests: responses signed by a different
// implementation (pysaml2 building the XML, libxmlsec1 signing it) than the
// Go code that verifies them.
//
// New writes a key and certificate generated on the Go side, the SP's
// metadata, a JSON config and an embedded Python script (idp.py) into the
// test's temporary directory, and starts one long-lived python3 process that
// answers JSON requests line by line (starting Python and importing pysaml2
// takes most of a second; each response then takes a few milliseconds).
// The process exits when the test ends, or when the test binary dies and its
// stdin closes.
//
// The IdP serves no HTTP: a test takes the SP's HTTP-Redirect AuthnRequest
// (the Location the SP redirected to), hands it to Respond, and posts the
// returned SAMLResponse to the ACS itself. Unsolicited makes an
// IdP-initiated Response (no InResponseTo) to the ACS in the SP's
// metadata. Logout makes an IdP-initiated
// LogoutRequest (HTTP-Redirect: the URL with pysaml2's query signature;
// HTTP-POST: the SAMLRequest value, enveloped signature).
// ResponseOptions.Encrypt makes the assertion an EncryptedAssertion
// (AES-128-GCM, AES-256-GCM or AES-128-CBC, RSA-OAEP key transport to the
// encryption certificate in the SP's metadata).
//
// pysaml2 behaviour worth knowing when verifying its output (7.0.1):
//   - Signatures are RSA-SHA1 with SHA-1 digests unless asked otherwise, and
//     a top-level signing_algorithm in the config is ignored; this package
//     passes Config.SigAlg/DigestAlg (default RSA-SHA256/SHA-256) on every
//     call.
//   - Both signatures use exclusive c14n, sit right after the Issuer and
//     carry an Id attribute ("Signature1", "Signature2") and the certificate
//     in KeyInfo; SignatureValue is wrapped at 64 columns.
//   - Prefixes are ns0/ns1/ns2, not samlp/saml/ds; the Assertion declares no
//     namespace of its own, so a verifier must carry the Response's
//     declarations over before checking the Assertion's signature alone.
//   - Issuers carry Format="...nameid-format:entity"; AttributeValues carry
//     xsi:type="xs:string" with xmlns:xs declared on each value.
//   - mail and displayName go out as urn:oid names with NameFormat uri and a
//     FriendlyName; attributes its map does not know (groups) keep their
//     plain name and get no FriendlyName.
//   - Metadata lists every algorithm xmlsec1 knows (md5 included) in an
//     alg:Extensions block, and the X509Certificate text has line breaks.
//   - Assertion encryption cannot be configured: create_authn_response
//     (encrypt_assertion=True) takes no algorithm, Entity._encrypt_assertion
//     builds its template with pre_encryption_part()'s default
//     (tripledes-cbc, which tfgate refuses) and calls xmlsec1 --encrypt with
//     SecurityContext.encrypt_assertion's default --session-key des-192;
//     metadata EncryptionMethod elements are ignored. idp.py overrides
//     _encrypt_assertion (same steps) to pass
//     pre_encryption_part(msg_enc=...#aes128-gcm, key_enc=...#rsa-oaep-mgf1p)
//     and a matching --session-key aes-128 (aes-256 for aes256-gcm).
//     Debian 12's xmlsec1 1.2.37 (OpenSSL) then encrypts with AES-GCM; no
//     other xmlsec1 option is needed. The assertion is signed first and
//     the Response (when signed) after encryption.
//   - With encrypt_assertion=True but no encryption certificate in the SP's
//     metadata, pysaml2 quietly sends the assertion in clear text
//     (Entity._response resets encrypt_assertion); Respond refuses instead.
//   - xmlsec1 reads a comma in --privkey-pem as a list separator, so the
//     key file's path (the test's TempDir, named after the test) must hold
//     no comma, or every signature fails with "failed to load private key".
package pysaml2idp
