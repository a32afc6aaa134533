package kubejwt

import "errors"

// Sentinel errors. Their messages are static and safe to show a client:
// none quotes the token.
var (
	// ErrMalformed: not a compact JWS with a JWT payload.
	ErrMalformed = errors.New("kubejwt: the token is not a signed JWT")
	// ErrAlgorithm: signed with an algorithm other than RS256 or ES256.
	ErrAlgorithm = errors.New("kubejwt: the token must be signed with RS256 or ES256")
	// ErrUnknownKey: the kid names no key of the issuer's JWKS.
	ErrUnknownKey = errors.New("kubejwt: the token's key id names no key of the issuer")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("kubejwt: the token's signature does not verify")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer = errors.New("kubejwt: the token's issuer is not trusted")
	// ErrAudience: aud names none of the configured audiences.
	ErrAudience = errors.New("kubejwt: the token's audience must name this server")
	// ErrExpired: exp is missing or has passed.
	ErrExpired = errors.New("kubejwt: the token has expired or has no expiry")
	// ErrNotYetValid: nbf or iat is in the future.
	ErrNotYetValid = errors.New("kubejwt: the token is not valid yet")
	// ErrNotServiceAccount: sub is not system:serviceaccount:<ns>:<name>.
	ErrNotServiceAccount = errors.New("kubejwt: the token's subject is not a Kubernetes service account")
	// ErrUnavailable: the issuer's keys could not be fetched and none are
	// cached; the token was not judged.
	ErrUnavailable = errors.New("kubejwt: the issuer's keys are unavailable")
	// ErrConfig: a Config that cannot be used.
	ErrConfig = errors.New("kubejwt: invalid configuration")
)
