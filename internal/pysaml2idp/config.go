package pysaml2idp

import (
	"errors"
	"time"
)

// Signature and digest algorithms pysaml2 can be asked for.
const (
	SigRSASHA1     = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	SigRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	SigRSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	DigestSHA1     = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256   = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA512   = "http://www.w3.org/2001/04/xmlenc#sha512"
	NameIDEmail    = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDUnspec   = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	defaultEntity  = "http://pysaml2-idp.test/saml/idp"
	defaultLife    = 5 * time.Minute
	defaultSession = 8 * time.Hour
)

// Config configures the pysaml2 IdP. New fills its defaults.
type Config struct {
	// EntityID is the IdP's entity ID. default:
	// "http://pysaml2-idp.test/saml/idp" (.test never resolves).
	EntityID string
	// SSOURL is the SingleSignOnService (HTTP-Redirect) location in the
	// IdP's metadata; pysaml2 refuses AuthnRequests whose Destination is
	// another URL. default: EntityID + "/sso".
	SSOURL string
	// SLOURL is the SingleLogoutService location in metadata. default:
	// EntityID + "/slo".
	SLOURL string
	// SPMetadata is the SP's metadata XML (an EntityDescriptor with an
	// SPSSODescriptor and an HTTP-POST AssertionConsumerService). pysaml2
	// answers only SPs and ACS URLs it lists. Required.
	SPMetadata []byte
	// SigAlg and DigestAlg are used for every signature unless an option
	// overrides them. default: SigRSASHA256 and DigestSHA256 (pysaml2's own
	// default is SHA-1).
	SigAlg, DigestAlg string
	// AssertionLifetime is the Conditions NotOnOrAfter offset. pysaml2
	// counts whole minutes, so it is rounded up. default: 5m.
	AssertionLifetime time.Duration
	// SessionLifetime sets SessionNotOnOrAfter. default: 8h.
	SessionLifetime time.Duration
}

// User is the subject of a response.
type User struct {
	// ID is the NameID (format unspecified). Required.
	ID string
	// Name is sent as displayName.
	Name string
	// Email is sent as mail, and is the NameID in the emailAddress format.
	Email string
	// Groups are sent as the multi-valued groups attribute.
	Groups []string
}

// ResponseOptions varies one Response.
type ResponseOptions struct {
	// UnsignedAssertion and UnsignedResponse leave that element unsigned.
	// default: both signed.
	UnsignedAssertion, UnsignedResponse bool
	// SigAlg and DigestAlg override the Config's. default: Config's.
	SigAlg, DigestAlg string
	// NameIDFormat is NameIDUnspec (User.ID) or NameIDEmail (User.Email).
	// default: the AuthnRequest's NameIDPolicy Format, else NameIDUnspec.
	NameIDFormat string
	// Encrypt encrypts the assertion (EncryptedAssertion) with this content
	// cipher: EncryptAES128GCM, EncryptAES256GCM or EncryptAES128CBC, the
	// content key transported with RSA-OAEP (rsa-oaep-mgf1p) to the
	// encryption certificate in the SP's metadata. The assertion is signed
	// (unless UnsignedAssertion) before it is encrypted. default: "", not
	// encrypted.
	Encrypt string
}

// Content ciphers for ResponseOptions.Encrypt.
const (
	EncryptAES128GCM = "aes128-gcm"
	EncryptAES256GCM = "aes256-gcm"
	EncryptAES128CBC = "aes128-cbc"
)

// AssertionOptions describes a bare signed Assertion, as an RFC 7522 SAML
// bearer grant carries.
type AssertionOptions struct {
	// Audience is the AudienceRestriction: the token endpoint or
	// authorization server's identifier. Required.
	Audience string
	// Recipient is the bearer SubjectConfirmationData Recipient. default:
	// Audience.
	Recipient string
	// SigAlg and DigestAlg override the Config's. default: Config's.
	SigAlg, DigestAlg string
	// NameIDFormat is NameIDUnspec or NameIDEmail. default: NameIDUnspec.
	NameIDFormat string
}

func (cfg Config) withDefaults() (Config, error) {
	if len(cfg.SPMetadata) == 0 {
		return cfg, errors.New("pysaml2idp: Config.SPMetadata is required")
	}
	if cfg.EntityID == "" {
		cfg.EntityID = defaultEntity
	}
	if cfg.SSOURL == "" {
		cfg.SSOURL = cfg.EntityID + "/sso"
	}
	if cfg.SLOURL == "" {
		cfg.SLOURL = cfg.EntityID + "/slo"
	}
	if cfg.SigAlg == "" {
		cfg.SigAlg = SigRSASHA256
	}
	if cfg.DigestAlg == "" {
		cfg.DigestAlg = DigestSHA256
	}
	if cfg.AssertionLifetime <= 0 {
		cfg.AssertionLifetime = defaultLife
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = defaultSession
	}
	return cfg, nil
}

// lifetimeMinutes is AssertionLifetime in whole minutes, rounded up.
func (cfg Config) lifetimeMinutes() int {
	return int((cfg.AssertionLifetime + time.Minute - 1) / time.Minute)
}
