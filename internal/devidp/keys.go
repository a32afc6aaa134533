package devidp

import (
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"time"
)

// keyPair returns cfg's key and certificate, generating what is missing: an
// RSA 2048 key when Key is nil, and a self-signed certificate valid for
// DefaultCertLifetime from now when Cert is nil.
func keyPair(cfg Config) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, cert := cfg.Key, cfg.Cert
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(cfg.Rand, 2048); err != nil {
			return nil, nil, fmt.Errorf("devidp: generating key: %w", err)
		}
	}
	if cert == nil {
		var err error
		if cert, err = selfSigned(key, cfg.Now(), cfg.Rand); err != nil {
			return nil, nil, fmt.Errorf("devidp: generating certificate: %w", err)
		}
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("%w: Cert does not match Key", ErrConfig)
	}
	return key, cert, nil
}

// selfSigned makes a signing certificate for key, valid from a minute before
// now (to absorb small clock differences) until a year later.
func selfSigned(key *rsa.PrivateKey, now time.Time, random io.Reader) (*x509.Certificate, error) {
	serial, err := randomSerial(random)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tfgate development IdP (not for production)"},
		NotBefore:             now.Add(-time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.Add(DefaultCertLifetime).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a positive 127-bit serial number.
func randomSerial(random io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(random, b); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // never zero, and always 16 bytes long
	return new(big.Int).SetBytes(b), nil
}
