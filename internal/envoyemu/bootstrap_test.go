package envoyemu

import (
	"net/url"
	"testing"
	"time"

	"github.com/tfgate/tfgate/envoy"
)

var shippedClusters = map[string]*url.URL{
	"tfserving_rest": {Scheme: "http", Host: "127.0.0.1:1"},
	"tfserving_grpc": {Scheme: "http", Host: "127.0.0.1:2"},
	"extauthz_http":  {Scheme: "http", Host: "127.0.0.1:3"},
}

// TestFromShippedBootstrap reads envoy/envoy.yaml and checks the settings
// the end-to-end stacks then run with.
func TestFromShippedBootstrap(t *testing.T) {
	bs, err := ParseBootstrap(envoy.BootstrapYAML)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := FromBootstrap(bs, "rest", shippedClusters)
	if err != nil {
		t.Fatal(err)
	}
	if !rest.NormalizePath || !rest.MergeSlashes || rest.EscapedSlashes != RejectRequest || rest.Underscores != DropUnderscores ||
		!rest.ValidateMutations || rest.StatusOnError != 503 || rest.FailureModeAllow || rest.WithRequestBody != nil ||
		rest.Timeout != 500*time.Millisecond || !rest.UseRemoteAddress || len(rest.RemoveHeaders) < 5 {
		t.Errorf("rest listener: %+v", rest)
	}
	var saml, token, tfs *Route
	for i, r := range rest.Routes {
		switch {
		case r.Prefix == "/saml/":
			saml = &rest.Routes[i]
		case r.Path == "/token":
			token = &rest.Routes[i]
		case r.Prefix == "/":
			tfs = &rest.Routes[i]
		}
	}
	if saml == nil || !saml.DisableAuthz || saml.Upstream.Host != "127.0.0.1:3" || token == nil || !token.DisableAuthz ||
		tfs == nil || tfs.DisableAuthz || tfs.Upstream.Host != "127.0.0.1:1" || tfs.HTTP2 {
		t.Errorf("rest routes: %+v", rest.Routes)
	}

	grpc, err := FromBootstrap(bs, "grpc", shippedClusters)
	if err != nil {
		t.Fatal(err)
	}
	if b := grpc.WithRequestBody; b == nil || !b.PackAsBytes || b.AllowPartialMessage || b.MaxRequestBytes != 64<<20 {
		t.Errorf("grpc body settings: %+v", b)
	}
	if len(grpc.Routes) != 1 || !grpc.Routes[0].GRPC || !grpc.Routes[0].HTTP2 || grpc.Routes[0].DisableAuthz || grpc.StatusOnError != 503 {
		t.Errorf("grpc listener: %+v", grpc)
	}

	if _, err := FromBootstrap(bs, "nope", shippedClusters); err == nil {
		t.Error("unknown listener accepted")
	}
	if _, err := FromBootstrap(bs, "rest", map[string]*url.URL{}); err == nil {
		t.Error("missing cluster addresses accepted")
	}
}
