package samlverify

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/url"
	"time"

	dsig "github.com/russellhaering/goxmldsig"
)

// Defaults for Config fields left zero.
const (
	// DefaultSkew is Config.Skew when unset.
	DefaultSkew = 90 * time.Second
	// DefaultMaxResponseBytes is Config.MaxResponseBytes when unset.
	DefaultMaxResponseBytes = 256 << 10
)

// Config configures a Verifier. It is validated, and its defaults filled, by
// New.
type Config struct {
	// SPEntityID is this Service Provider's entity ID. Every assertion must
	// carry an AudienceRestriction naming it. Required.
	SPEntityID string
	// ACSURL is the absolute URL of this SP's Assertion Consumer Service.
	// A Response's Destination (when present) and the bearer confirmation's
	// Recipient must equal it exactly. Required.
	ACSURL string
	// Skew is the clock skew allowed on either side of NotBefore and
	// NotOnOrAfter. default: 90s.
	Skew time.Duration
	// AllowSHA1 accepts signatures whose SignatureMethod or DigestMethod is
	// SHA-1. Turn it on only for an IdP that cannot do better. default: false.
	AllowSHA1 bool
	// MaxResponseBytes caps the length of the base64 text handed to the
	// verifier, checked before anything is decoded. default: 256 KiB.
	MaxResponseBytes int
	// DecryptionKey is the SP's RSA key for EncryptedAssertion. When nil, an
	// encrypted assertion is refused with ReasonDecryptFailed. default: nil.
	DecryptionKey *rsa.PrivateKey
	// DecryptionCert is the certificate of DecryptionKey, published in SP
	// metadata. It is not needed to decrypt. default: nil.
	DecryptionCert *x509.Certificate
	// AllowUnsignedResponseCBC decrypts an AES-CBC EncryptedAssertion even
	// when the Response around it is not signed. CBC has no integrity, and
	// decrypting unauthenticated CBC ciphertext is what padding and format
	// oracle attacks on XML Encryption need (saml-core errata E93), so by
	// default CBC is only decrypted inside a signed Response; AES-GCM always
	// is. default: false.
	AllowUnsignedResponseCBC bool
	// Attributes says which SAML attributes give the groups, e-mail and
	// display name. default: none (only Identity.Attributes is filled).
	Attributes AttributeMap
	// Clock is the one clock for certificate validity and for the assertion's
	// time conditions, so that both agree in tests. default: nil, real time.
	Clock *dsig.Clock
}

// AttributeMap names the SAML attributes that fill Identity's fields. Each
// list is matched, in order, against an attribute's Name and then its
// FriendlyName; the first attribute present wins.
type AttributeMap struct {
	// Groups lists the attributes holding group names (all values kept).
	Groups []string
	// Email lists the attributes holding the e-mail address.
	Email []string
	// DisplayName lists the attributes holding the display name.
	DisplayName []string
}

// ReplayCache is the one-time state verification needs. authz/session's
// Memory and Redis stores implement it.
//
// Both methods return an error only when the store could not answer; the
// verifier then fails with ReasonUnavailable, never with success.
type ReplayCache interface {
	// Consume reports whether id was an outstanding AuthnRequest ID, and
	// forgets it, so that a Response to one request is accepted once.
	Consume(ctx context.Context, id string) (bool, error)
	// SeenBefore records an assertion id until until and reports whether it
	// was already recorded. until is always in the future.
	SeenBefore(ctx context.Context, id string, until time.Time) (bool, error)
}

// IdPSource looks up trusted identity providers. *IdPSet and *Source
// implement it. Implementations must be safe for concurrent use, and an IdP
// they return must not change afterwards.
type IdPSource interface {
	// LookupIdP returns the IdP whose entity ID is entityID, or false.
	LookupIdP(entityID string) (*IdP, bool)
}

// withDefaults returns cfg with defaults filled, or an error naming the
// first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.SPEntityID == "" {
		return cfg, errors.New("samlverify: Config.SPEntityID is required")
	}
	if u, err := url.Parse(cfg.ACSURL); err != nil || !u.IsAbs() || u.Host == "" {
		return cfg, errors.New("samlverify: Config.ACSURL must be an absolute URL")
	}
	if cfg.Skew < 0 || cfg.MaxResponseBytes < 0 {
		return cfg, errors.New("samlverify: Config.Skew and MaxResponseBytes must not be negative")
	}
	if cfg.Skew == 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return cfg, nil
}
