package sp

import (
	"testing"

	"github.com/beevik/etree"
)

// TestRedirectURLAllocatesLittle guards the pooled DEFLATE writer: a new
// flate.Writer per /saml/login allocates about 800 KB.
func TestRedirectURLAllocatesLittle(t *testing.T) {
	msg := etree.NewElement("samlp:AuthnRequest")
	msg.CreateAttr("ID", "_abc")
	if _, err := redirectURL("https://idp.example/sso", "SAMLRequest", msg.Copy(), "", nil); err != nil {
		t.Fatal(err)
	}
	var failed error
	bytes := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := redirectURL("https://idp.example/sso", "SAMLRequest", msg.Copy(), "", nil); err != nil {
				failed = err
			}
		}
	}).AllocedBytesPerOp()
	if failed != nil {
		t.Fatal(failed)
	}
	allocs := testing.AllocsPerRun(50, func() {
		_, _ = redirectURL("https://idp.example/sso", "SAMLRequest", msg.Copy(), "", nil)
	})
	t.Logf("%v allocs, %d bytes per redirect URL", allocs, bytes)
	if bytes > 64<<10 {
		t.Errorf("redirectURL allocates %d bytes per call, want under 64 KiB (a flate.Writer is ~800 KB)", bytes)
	}
}
