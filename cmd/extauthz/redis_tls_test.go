package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tfgate/tfgate/authz"
	"github.com/tfgate/tfgate/internal/redistest"
)

// TestRedisTLSAndACL connects over TLS (a private CA, a client certificate
// the server requires) as an ACL user whose password is in a file, in both
// config styles (fields and a rediss:// URL), and checks that a wrong
// password or a missing client certificate is refused.
func TestRedisTLSAndACL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsPort := redistest.FreePort(t)
	redistest.Start(t,
		"tls-port "+strconv.Itoa(tlsPort),
		"tls-cert-file "+pki.serverCert, "tls-key-file "+pki.serverKey,
		"tls-ca-cert-file "+pki.ca, "tls-auth-clients yes",
		"user tfgate on >s3cret ~* &* +@all",
	)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
	tlsBlock := "    tls:\n      enabled: true\n      ca_file: " + pki.ca + "\n"
	client := "      cert_file: " + pki.clientCert + "\n      key_file: " + pki.clientKey + "\n"
	tests := map[string]struct {
		redis string
		ok    bool
	}{
		"fields":                {"    addrs: [\"" + addr + "\"]\n    username: tfgate\n    password_file: " + pwFile + "\n" + tlsBlock + client, true},
		"url":                   {"    url: rediss://tfgate@" + addr + "\n    password_file: " + pwFile + "\n    tls:\n      ca_file: " + pki.ca + "\n" + client, true},
		"wrong password":        {"    addrs: [\"" + addr + "\"]\n    username: tfgate\n    password: wrong\n" + tlsBlock + client, false},
		"no client certificate": {"    addrs: [\"" + addr + "\"]\n    username: tfgate\n    password_file: " + pwFile + "\n" + tlsBlock, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, cfg := writeRedisConfig(t, tc.redis, "")
			store, client, err := newRedisStore(cfg.Sessions)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = store.Ping(ctx)
			if !tc.ok {
				if err == nil {
					t.Fatal("Ping succeeded; want it refused")
				}
				return
			}
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			s := authz.Session{Subject: "a", ExpiresAt: time.Now().Add(time.Hour)}
			if err := store.Create(ctx, "tfg_tls", s); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Lookup(ctx, "tfg_tls"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	caKey, caCert := newCert(t, "tfgate test CA", nil, nil, func(c *x509.Certificate) {
		c.IsCA, c.BasicConstraintsValid = true, true
		c.KeyUsage = x509.KeyUsageCertSign
	})
	srvKey, srvCert := newCert(t, "redis", caKey, caCert, func(c *x509.Certificate) {
		c.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	cliKey, cliCert := newCert(t, "tfgate", caKey, caCert, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return testPKI{
		ca:         write("ca.crt", "CERTIFICATE", caCert.Raw),
		serverCert: write("server.crt", "CERTIFICATE", srvCert.Raw),
		serverKey:  write("server.key", "EC PRIVATE KEY", keyDER(srvKey)),
		clientCert: write("client.crt", "CERTIFICATE", cliCert.Raw),
		clientKey:  write("client.key", "EC PRIVATE KEY", keyDER(cliKey)),
	}
}

// newCert makes a key and a certificate signed by parent (self-signed when
// parent is nil).
func newCert(t *testing.T, cn string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, edit func(*x509.Certificate)) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	edit(tmpl)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}
