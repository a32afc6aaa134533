package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// testCA signs certificates for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial atomic.Int64

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for a server (IP 127.0.0.1) or
// a client with the given URI SAN.
func (ca *testCA) issue(t *testing.T, server bool, uri string) (certPEM, keyPEM []byte, tc tls.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		u, _ := url.Parse(uri)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	tc, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, tc
}

func writeFileAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	// Write then rename, as a Secret volume or cert-manager does, so the
	// reloader never reads a half-written file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const envoyID = "spiffe://cluster.local/ns/mesh/sa/envoy"

// TestMTLSListeners runs extauthz serve with listen.tls over real TLS on
// loopback: a client with a certificate from the right CA and an allowed
// SPIFFE ID gets Checks and /healthz answered; a certificate from another
// CA, one with another SAN, or none, is refused at the handshake; and a
// server certificate rotated on disk is served to new connections while
// Checks in flight on the old connection keep being answered. (Before,
// listen.tls did not exist: both listeners were plaintext only.)
func TestMTLSListeners(t *testing.T) {
	dir := t.TempDir()
	ca, otherCA := newTestCA(t), newTestCA(t)
	srvCert, srvKey, _ := ca.issue(t, true, "")
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	writeFileAtomic(t, certFile, srvCert)
	writeFileAtomic(t, keyFile, srvKey)
	writeFileAtomic(t, caFile, ca.pem)
	grpcAddr, httpAddr, _ := startServe(t, fmt.Sprintf("listen:\n  grpc: 127.0.0.1:0\n  http: 127.0.0.1:0\n  shutdown_timeout: 1s\n"+
		"  tls:\n    cert_file: %s\n    key_file: %s\n    client_ca_file: %s\n    allowed_sans: [%q]\n    reload_interval: 50ms\n"+
		"decision_log:\n  path: off\n", certFile, keyFile, caFile, envoyID))

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	_, _, good := ca.issue(t, false, envoyID)
	_, _, wrongSAN := ca.issue(t, false, "spiffe://cluster.local/ns/x/sa/mallory")
	_, _, wrongCA := otherCA.issue(t, false, envoyID)

	health := func(cfg *tls.Config) error {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}
	httpGet := func(cfg *tls.Config) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 3 * time.Second}
		resp, err := c.Get("https://" + httpAddr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	if err := health(client(good)); err != nil {
		t.Fatalf("gRPC with the allowed identity: %v", err)
	}
	if err := httpGet(client(good)); err != nil {
		t.Fatalf("HTTP with the allowed identity: %v", err)
	}
	for name, cfg := range map[string]*tls.Config{
		"wrong SAN": client(wrongSAN), "wrong CA": client(wrongCA), "no certificate": client(),
		"TLS 1.1": {RootCAs: roots, Certificates: []tls.Certificate{good}, MaxVersion: tls.VersionTLS11},
	} {
		if err := health(cfg); err == nil {
			t.Errorf("gRPC, %s: answered, want refused", name)
		}
		if err := httpGet(cfg); err == nil {
			t.Errorf("HTTP, %s: answered, want refused", name)
		}
	}
	if err := httpGet(&tls.Config{InsecureSkipVerify: true}); err == nil {
		t.Error("plaintext-era client without a certificate was answered")
	}

	t.Run("rotation", func(t *testing.T) {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(client(good))))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		checks := authv3.NewAuthorizationClient(conn)
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/v1/models/m", Headers: map[string]string{"accept": "application/json"}},
		}}}
		var (
			wg       sync.WaitGroup
			stop     = make(chan struct{})
			answered atomic.Int64
			failed   atomic.Value
		)
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := checks.Check(t.Context(), req)
					if err != nil || codes.Code(resp.GetStatus().GetCode()) != codes.Unauthenticated {
						failed.Store(fmt.Sprintf("%v %v", resp, err))
						return
					}
					answered.Add(1)
				}
			})
		}
		time.Sleep(100 * time.Millisecond)
		newCert, newKey, _ := ca.issue(t, true, "")
		newLeaf, _ := pem.Decode(newCert)
		writeFileAtomic(t, keyFile, newKey)
		writeFileAtomic(t, certFile, newCert)
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := tls.Dial("tcp", grpcAddr, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{good}, NextProtos: []string{"h2"}})
			if err == nil {
				got := c.ConnectionState().PeerCertificates[0].Raw
				c.Close()
				if string(got) == string(newLeaf.Bytes) {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("new connections still get the old certificate 5s after rotation (reload_interval 50ms): %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		before := answered.Load()
		time.Sleep(100 * time.Millisecond)
		close(stop)
		wg.Wait()
		if f := failed.Load(); f != nil {
			t.Fatalf("a Check in flight on the old connection failed during rotation: %v", f)
		}
		if answered.Load() <= before {
			t.Fatal("no Checks answered on the old connection after rotation")
		}
		if err := health(client(good)); err != nil {
			t.Fatalf("new gRPC connection after rotation: %v", err)
		}
	})
}
