package devidp

import (
	"net/url"
	"testing"
)

// FuzzParseRedirect feeds arbitrary queries to the AuthnRequest parser.
// Errors are expected; we're looking for panics and hangs, and for an
// accepted request that breaks the IdP's rules.
func FuzzParseRedirect(f *testing.F) {
	cfg := testConfig(f)
	cfg.BaseURL = "http://127.0.0.1:8081"
	idp, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ok := authnReq{ID: "_f", Destination: idp.SSOURL(), ACS: spACS, Issuer: spEntityID}
	f.Add(redirectQuery(f, ok.xml(), "rs", nil))
	f.Add(redirectQuery(f, ok.xml(), "", loadKey(f, "sp-key.pem")))
	f.Add("SAMLRequest=" + url.QueryEscape(deflate64(f, `<!DOCTYPE x><x/>`)))
	f.Add("SAMLRequest=&RelayState=&SigAlg=&Signature=")
	f.Fuzz(func(t *testing.T, query string) {
		req, err := idp.parseRedirect(query)
		if err != nil {
			return
		}
		if req.ID == "" || req.SP.EntityID != spEntityID || req.ACSURL != spACS || len(req.RelayState) > maxRelayState {
			t.Errorf("accepted a request that breaks the rules: %+v", req)
		}
	})
}
