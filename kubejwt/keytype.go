package kubejwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// httpClient fetches keys, trusting caFile's certificates when set.
func httpClient(caFile string, timeout time.Duration) (*http.Client, error) {
	c := &http.Client{Timeout: timeout}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: ca_file: %w", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: ca_file holds no PEM certificate", ErrConfig)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c.Transport = t
	return c, nil
}

func isRSA(k any) bool {
	pk, ok := k.(*rsa.PublicKey)
	return ok && pk.N.BitLen() >= 2048
}

func isEC(k any) bool {
	pk, ok := k.(*ecdsa.PublicKey)
	return ok && pk.Curve == elliptic.P256()
}
