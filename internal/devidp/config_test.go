package devidp

import (
	"crypto/rsa"
	"errors"
	"testing"
	"time"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	key := loadKey(t, "idp-key.pem")
	otherCert, err := selfSigned(loadKey(t, "sp-key.pem"), time.Now(), seededRand())
	if err != nil {
		t.Fatal(err)
	}
	sp := SP{EntityID: spEntityID, ACSURLs: []string{spACS}}
	tests := map[string]Config{
		"no SPs":              {Key: key},
		"SP without entityID": {Key: key, SPs: []SP{{ACSURLs: []string{spACS}}}},
		"SP without ACS":      {Key: key, SPs: []SP{{EntityID: "urn:sp"}}},
		"relative ACS":        {Key: key, SPs: []SP{{EntityID: "urn:sp", ACSURLs: []string{"/acs"}}}},
		"repeated SP":         {Key: key, SPs: []SP{sp, sp}},
		"empty users":         {Key: key, SPs: []SP{sp}, Users: []User{}},
		"user without ID":     {Key: key, SPs: []SP{sp}, Users: []User{{Name: "x"}}},
		"repeated user":       {Key: key, SPs: []SP{sp}, Users: []User{{ID: "a"}, {ID: "a"}}},
		"BaseURL with path":   {Key: key, SPs: []SP{sp}, BaseURL: "http://127.0.0.1:8081/idp"},
		"BaseURL not http":    {Key: key, SPs: []SP{sp}, BaseURL: "ftp://127.0.0.1"},
		"negative lifetime":   {Key: key, SPs: []SP{sp}, AssertionLifetime: -time.Second},
		"cert without key":    {Cert: otherCert, SPs: []SP{sp}},
		"cert of another key": {Key: key, Cert: otherCert, SPs: []SP{sp}},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New() = %v, want ErrConfig", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	idp := mustNew(t, Config{
		BaseURL: "http://127.0.0.1:8081/",
		SPs:     []SP{{EntityID: spEntityID, ACSURLs: []string{spACS}}},
		Now:     func() time.Time { return now },
	})
	mustEqual(t, "EntityID", idp.EntityID(), "http://127.0.0.1:8081/saml/idp")
	mustEqual(t, "SSOURL", idp.SSOURL(), "http://127.0.0.1:8081/saml/idp/sso")
	mustEqual(t, "users", len(idp.Users()), len(DefaultUsers()))
	cert := idp.Certificate()
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("generated key is not RSA 2048: %T", cert.PublicKey)
	}
	mustEqual(t, "cert lifetime", cert.NotAfter.Sub(now), DefaultCertLifetime)
	if cert.NotBefore.After(now) {
		t.Errorf("cert NotBefore %v is after now", cert.NotBefore)
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		t.Errorf("generated cert is not self-signed: %v", err)
	}
}

func TestEntityIDOverride(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EntityID = "urn:tfgate:dev-idp"
	idp := Start(t, cfg)
	mustEqual(t, "EntityID", idp.EntityID(), "urn:tfgate:dev-idp")
	_, b64, err := idp.NewResponse(ResponseOptions{User: User{ID: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "Issuer", text(t, parseB64(t, b64), "./Issuer"), "urn:tfgate:dev-idp")
}
