package samlverify

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/tfgate/tfgate/samlverify/internal/fixture"
)

// idpMetadata returns the fixture IdP's EntityDescriptor.
func idpMetadata(tb testing.TB, certs ...*x509.Certificate) fixture.MetadataParams {
	tb.Helper()
	if len(certs) == 0 {
		certs = []*x509.Certificate{fixture.IdPKey(tb).Cert}
	}
	return fixture.MetadataParams{EntityID: fixture.IdPEntityID, ID: "_md-1", SigningCerts: certs}
}

// pinned returns MetadataOptions at T0 with the given pins.
func pinned(certs []*x509.Certificate, fps ...string) MetadataOptions {
	return MetadataOptions{PinnedCerts: certs, PinnedSHA256: fps, Clock: dsig.NewFakeClockAt(fixture.T0)}
}

func TestParseMetadataEntity(t *testing.T) {
	t.Parallel()
	p := idpMetadata(t, fixture.IdPKey(t).Cert, fixture.NextIdPKey(t).Cert)
	p.EncCerts = []*x509.Certificate{fixture.SPKey(t).Cert}
	p.ValidUntil, p.CacheDuration = fixture.T0.Add(48*time.Hour), "PT6H"
	md, err := ParseMetadata(fixture.Bytes(t, p.IdPMetadata()), pinned(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(md.IdPs) != 1 || md.Signed {
		t.Fatalf("metadata = %+v", md)
	}
	idp := md.IdPs[0]
	if idp.EntityID != fixture.IdPEntityID || len(idp.SigningCerts) != 2 {
		t.Errorf("entity %q with %d signing certs (encryption key must not count)", idp.EntityID, len(idp.SigningCerts))
	}
	if idp.SSORedirectURL != fixture.IdPEntityID+"/sso" || idp.SSOPostURL != fixture.IdPEntityID+"/sso-post" ||
		idp.SLORedirectURL != fixture.IdPEntityID+"/slo" || len(idp.NameIDFormats) != 1 {
		t.Errorf("endpoints = %+v", idp)
	}
	if !md.ValidUntil.Equal(p.ValidUntil) || md.CacheDuration != 6*time.Hour || idp.CacheDuration != 6*time.Hour {
		t.Errorf("lifetime = %v, %v", md.ValidUntil, md.CacheDuration)
	}
}

func TestParseMetadataAggregate(t *testing.T) {
	t.Parallel()
	a := idpMetadata(t)
	a.ValidUntil = fixture.T0.Add(time.Hour)
	b := fixture.MetadataParams{EntityID: "https://idp-b.example.test", SigningCerts: []*x509.Certificate{fixture.OtherKey(t).Cert}}
	sp := etree.NewElement("md:EntityDescriptor")
	sp.CreateAttr("entityID", "https://some-sp.test")
	sp.CreateElement("md:SPSSODescriptor")
	noUse := fixture.MetadataParams{EntityID: "https://idp-c.example.test"}.IdPMetadata()
	kd := fixture.Find(b.IdPMetadata(), "KeyDescriptor").Copy()
	kd.RemoveAttr("use")
	noUse.SelectElement("IDPSSODescriptor").InsertChildAt(0, kd)
	agg := fixture.Entities("_agg", fixture.T0.Add(24*time.Hour), a.IdPMetadata(), b.IdPMetadata(), sp, noUse)
	agg.CreateAttr("xmlns:ds", "http://www.w3.org/2000/09/xmldsig#")
	md, err := ParseMetadata(fixture.Bytes(t, agg), pinned(nil))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, idp := range md.IdPs {
		ids = append(ids, idp.EntityID)
	}
	if strings.Join(ids, " ") != fixture.IdPEntityID+" https://idp-b.example.test https://idp-c.example.test" {
		t.Errorf("IdPs = %q (SP entity must be skipped, KeyDescriptor without use counts as signing)", ids)
	}
	if !md.ValidUntil.Equal(fixture.T0.Add(time.Hour)) || !md.IdPs[1].ValidUntil.Equal(fixture.T0.Add(24*time.Hour)) {
		t.Errorf("validUntil = %v / %v, want earliest along each path", md.ValidUntil, md.IdPs[1].ValidUntil)
	}
}

func TestParseMetadataSignature(t *testing.T) {
	t.Parallel()
	fedKey := fixture.NextIdPKey(t)
	signed := func(tb testing.TB) []byte {
		return fixture.Bytes(tb, fixture.Sign(tb, idpMetadata(tb).IdPMetadata(), fedKey, fixture.SignOptions{}))
	}
	pin := []*x509.Certificate{fedKey.Cert}
	tests := map[string]struct {
		raw  func(testing.TB) []byte
		opts MetadataOptions
		want Reason // cause reason inside ReasonMetadataInvalid; "" for success
	}{
		"pinned certificate":           {raw: signed, opts: pinned(pin)},
		"pinned fingerprint":           {raw: signed, opts: pinned(nil, Fingerprint(fedKey.Cert))},
		"fingerprint lower, no colons": {raw: signed, opts: pinned(nil, strings.ToLower(strings.ReplaceAll(Fingerprint(fedKey.Cert), ":", "")))},
		"unsigned but pinned":          {raw: func(tb testing.TB) []byte { return fixture.Bytes(tb, idpMetadata(tb).IdPMetadata()) }, opts: pinned(pin), want: ReasonSignatureMissing},
		"signed by another key": {raw: func(tb testing.TB) []byte {
			return fixture.Bytes(tb, fixture.Sign(tb, idpMetadata(tb).IdPMetadata(), fixture.OtherKey(tb), fixture.SignOptions{}))
		}, opts: pinned(pin), want: ReasonUntrustedKey},
		"fingerprint of another key": {raw: signed, opts: pinned(nil, Fingerprint(fixture.OtherKey(t).Cert)), want: ReasonUntrustedKey},
		"tampered after signing": {raw: func(tb testing.TB) []byte {
			return []byte(strings.Replace(string(signed(tb)), "/sso-post", "/evil", 1))
		}, opts: pinned(pin), want: ReasonSignatureInvalid},
		"SHA-1 signature": {raw: func(tb testing.TB) []byte {
			return fixture.Bytes(tb, fixture.Sign(tb, idpMetadata(tb).IdPMetadata(), fedKey, fixture.SignOptions{SHA1: true}))
		}, opts: pinned(pin), want: ReasonSHA1Disabled},
		"past validUntil": {raw: func(tb testing.TB) []byte {
			p := idpMetadata(tb)
			p.ValidUntil = fixture.T0.Add(-time.Second)
			return fixture.Bytes(tb, p.IdPMetadata())
		}, opts: pinned(nil), want: ReasonExpired},
		"DOCTYPE": {raw: func(tb testing.TB) []byte {
			return []byte(strings.Replace(string(signed(tb)), "?>", `?><!DOCTYPE x [<!ENTITY e "x">]>`, 1))
		}, opts: pinned(pin), want: ReasonDoctype},
		"too large": {raw: signed, opts: MetadataOptions{MaxBytes: 100}, want: ReasonTooLarge},
		"no IdP": {raw: func(tb testing.TB) []byte {
			return fixture.Bytes(tb, fixture.MetadataParams{EntityID: "https://x.test"}.IdPMetadata())
		}, opts: pinned(nil), want: ReasonMalformed},
		"bad cacheDuration": {raw: func(tb testing.TB) []byte {
			p := idpMetadata(tb)
			p.CacheDuration = "1 hour"
			return fixture.Bytes(tb, p.IdPMetadata())
		}, opts: pinned(nil), want: ReasonMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			md, err := ParseMetadata(tc.raw(t), tc.opts)
			if tc.want == "" {
				if err != nil || !md.Signed {
					t.Fatalf("ParseMetadata: %v, %+v", err, md)
				}
				return
			}
			if md != nil || ReasonOf(err) != ReasonMetadataInvalid || ReasonOf(unwrap(err)) != tc.want {
				t.Fatalf("err = %v (cause %v), want metadata_invalid caused by %s", err, unwrap(err), tc.want)
			}
		})
	}
}

func TestParseXSDuration(t *testing.T) {
	t.Parallel()
	tests := map[string]time.Duration{
		"PT1H": time.Hour, "P1D": 24 * time.Hour, "PT6H30M": 6*time.Hour + 30*time.Minute,
		"P0Y0M1DT0H0M0.500S": 24*time.Hour + 500*time.Millisecond, "PT0S": 0,
	}
	for in, want := range tests {
		if got, err := parseXSDuration(in); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "PT-1H", "P1W", "PT1H1D"} {
		if _, err := parseXSDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
