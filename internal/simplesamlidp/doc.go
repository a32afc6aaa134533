// Package simplesamlidp runs Debian's SimpleSAMLphp as an independent SAML
// 2.0 Identity Provider for interop tests: a second IdP implementation that
// nobody here wrote (PHP, xmlseclibs), besides pysaml2.
//
// New generates everything SimpleSAMLphp needs in the test's temporary
// directory: a key pair made on the Go side, config.php, authsources.php
// with a static user source (exampleauth:UserPass), the hosted IdP's
// metadata, and the SP's remote metadata from Config. It then starts PHP's
// built-in web server on a free loopback port with SIMPLESAMLPHP_CONFIG_DIR
// pointing there, and stops it when the test ends. The IdP serves real HTTP:
// the SP's HTTP-Redirect AuthnRequest goes to SSOURL, SignIn fills in the
// user-name/password page as a browser without JavaScript would and returns
// the auto-submitting form to the SP's ACS. MetadataURL serves the IdP's
// metadata; HTTPSMetadataURL serves the same document through a TLS
// front in the test process, since tfgate fetches metadata over HTTPS only.
//
// SimpleSAMLphp behaviour worth knowing (1.19.7, Debian 12):
//   - The IdP needs php-xml (DOMDocument) and php-mbstring, which Debian's
//     simplesamlphp package does not depend on; without them every page is
//     an "Unhandled exception" whose cause is only in its log file.
//   - Its NameID is transient (a fresh random value per sign-in) unless the
//     IdP is told which attribute to use: this package adds the
//     saml:AttributeNameID filter with the uid attribute, which is what an
//     administrator configures for tfgate's stable user ids.
//   - Attributes go out with their source names and NameFormat basic by
//     default. With AttributeNameFormat "uri" this package adds the
//     core:AttributeMap name2oid filter, as federations do: mail becomes
//     urn:oid:0.9.2342.19200300.100.1.3, displayName
//     urn:oid:2.16.840.1.113730.3.1.241, isMemberOf
//     urn:oid:1.3.6.1.4.1.5923.1.5.1.1; names the map does not know keep
//     their plain name. There is no FriendlyName.
//   - Both the Response and the Assertion are signed by default
//     (saml20.sign.response and saml20.sign.assertion), RSA-SHA256 as
//     configured here (its own default is RSA-SHA256 too), exclusive c14n,
//     the certificate in KeyInfo.
//   - Encrypted assertions use RSA-OAEP key transport with AES-128-CBC and
//     nothing else: the block cipher is hard-wired for certificate-based
//     encryption (SAML2\EncryptedAssertion::setAssertion), and AES-GCM is
//     only offered for a pre-shared symmetric key, which tfgate does not
//     support. tfgate accepts AES-CBC only inside a signed Response, which
//     is SimpleSAMLphp's default, so encryption interoperates as long as
//     saml20.sign.response stays on.
//   - The attribute maps live in /etc/simplesamlphp/attributemap on Debian,
//     not where SimpleSAMLphp looks by default: config.php must set
//     attributenamemapdir, or name2oid fails at the first sign-in.
//   - Single logout uses the HTTP-Redirect binding; the LogoutResponse to an
//     SP's LogoutRequest is signed in the query (SigAlg, Signature) when
//     sign.logout is set for the SP, as here.
package simplesamlidp
