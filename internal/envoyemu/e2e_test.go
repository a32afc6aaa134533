package envoyemu

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/internal/tfpb"
	"github.com/tfgate/tfgate/internal/tfservingstandin"
)

// policy is a tiny authorizer in the shape tfgate's server will answer:
// deny half_plus_three, allow the rest with an identity header set the
// recommended way (§3.2) and the cookie removed.
func policy(req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	model := ""
	if raw := hr.GetRawBody(); raw != nil {
		if _, msg, err := tfpb.ParseFrame(raw); err == nil {
			spec, _, _ := tfpb.RequestModelSpec(msg)
			model = spec.Name
		}
	} else if rest, ok := strings.CutPrefix(hr.GetPath(), "/v1/models/"); ok {
		model, _, _ = strings.Cut(rest, ":")
	}
	if model == "half_plus_three" {
		return deniedResp(403, "model not allowed: half_plus_three (100%)"), nil
	}
	return okResp(&authv3.OkHttpResponse{
		Headers:         []*corev3.HeaderValueOption{hv("x-tfgate-user", "alice", no, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)},
		HeadersToRemove: []string{"cookie"},
	}), nil
}

// e2e is the topology of envoy-ext-authz.md §8: a REST proxy and a gRPC
// proxy (buffering raw bytes) in front of the TF Serving stand-in.
type e2e struct {
	tfs       *tfservingstandin.Server
	authz     *fakeAuthz
	restAddr  string
	grpcAddr  string
	grpcProxy *Proxy
}

// e2eCheckTimeout replaces §8's 0.5s so a slow -race run cannot fail a
// first call that is still dialing the authz server.
const e2eCheckTimeout = 5 * time.Second

func startE2E(tb testing.TB, mode Mode) *e2e {
	tb.Helper()
	e := &e2e{tfs: tfservingstandin.Start(tb)}
	var client authv3.AuthorizationClient
	e.authz, client = startAuthz(tb, policy)
	_, e.restAddr = Start(tb, Config{
		Routes: []Route{{Prefix: "/", Upstream: e.tfs.RESTURL(), Timeout: 60 * time.Second}},
		Authz:  client, Timeout: e2eCheckTimeout, Mode: mode,
	})
	e.grpcProxy, e.grpcAddr = Start(tb, Config{
		Routes: []Route{{Prefix: "/", Upstream: e.tfs.GRPCURL(), HTTP2: true, Timeout: 60 * time.Second}},
		Authz:  client, Timeout: e2eCheckTimeout, Mode: mode,
		WithRequestBody: &BufferSettings{MaxRequestBytes: 64 << 20, PackAsBytes: true},
	})
	return e
}

func TestEndToEndREST(t *testing.T) {
	e := startE2E(t, V136)
	req, _ := http.NewRequest("POST", "http://"+e.restAddr+"/v1/models/half_plus_two:predict",
		strings.NewReader(`{"instances":[1.0,2.0,5.0]}`))
	req.Header.Set("Cookie", "__Host-tfgate=secret")
	req.Header.Set("X-Tfgate-User", "mallory") // must be overwritten
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Predictions []float64 }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 ||
		!slices.Equal(out.Predictions, []float64{2.5, 3, 4.5}) {
		t.Fatalf("response %d %+v %v", resp.StatusCode, out, err)
	}
	rec := e.tfs.Requests()[0]
	if got := rec.Header.Values("X-Tfgate-User"); !slices.Equal(got, []string{"alice"}) || rec.Header.Get("Cookie") != "" ||
		rec.Header.Get("X-Request-Id") == "" || rec.Header.Get("X-Forwarded-Proto") != "http" || rec.Host != e.restAddr {
		t.Fatalf("upstream saw %+v", rec)
	}

	resp, err = http.Post("http://"+e.restAddr+"/v1/models/half_plus_three:predict", "application/json", strings.NewReader(`{"instances":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || len(e.tfs.Requests()) != 1 {
		t.Fatalf("denied REST call: %d, upstream requests %d", resp.StatusCode, len(e.tfs.Requests()))
	}
}

func TestEndToEndGRPC(t *testing.T) {
	e := startE2E(t, V136)
	conn, err := grpc.NewClient(e.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(t.Context(), "cookie", "__Host-tfgate=secret"), 10*time.Second)
	defer cancel()
	call := func(spec tfpb.ModelSpec, trailer *metadata.MD) ([]byte, []byte, error) {
		req := tfpb.PredictRequest(spec, map[string][]float32{"x": {1, 2, 5}})
		var resp []byte
		err := conn.Invoke(ctx, tfpb.MethodPredict, req, &resp, grpc.ForceCodecV2(tfpb.Codec{}), grpc.Trailer(trailer))
		return req, resp, err
	}

	t.Run("allowed", func(t *testing.T) {
		var trailer metadata.MD
		req, resp, err := call(tfpb.ModelSpec{Name: "half_plus_two"}, &trailer)
		if err != nil {
			t.Fatal(err)
		}
		ys, err := tfpb.PredictResponseFloats(resp)
		if err != nil || !reflect.DeepEqual(ys["y"], []float32{2.5, 3, 4.5}) {
			t.Fatalf("y = %v, %v", ys, err)
		}
		if got := trailer.Get(tfservingstandin.TrailerServedVersion); !slices.Equal(got, []string{"2"}) {
			t.Fatalf("trailer %s = %q, want [2]: trailers must pass through", tfservingstandin.TrailerServedVersion, got)
		}
		rec := e.tfs.Requests()[len(e.tfs.Requests())-1]
		if got := rec.Header.Values("X-Tfgate-User"); !slices.Equal(got, []string{"alice"}) || rec.Header.Get("Cookie") != "" || rec.Served != 2 {
			t.Fatalf("upstream saw %+v", rec)
		}
		hr := e.grpcProxy.LastCheck().GetAttributes().GetRequest().GetHttp()
		if string(hr.GetRawBody()) != string(tfpb.Frame(req)) || hr.GetBody() != "" || hr.GetHeaders()[hdrPartialBody] != "false" ||
			hr.GetProtocol() != "HTTP/2" || hr.GetPath() != tfpb.MethodPredict || hr.GetHeaders()["te"] != "trailers" ||
			!strings.HasPrefix(hr.GetHeaders()["content-type"], "application/grpc") || hr.GetSize() != int64(len(req)+5) {
			t.Fatalf("CheckRequest http = %v", hr)
		}
	})

	t.Run("upstream error passes through", func(t *testing.T) {
		_, _, err := call(tfpb.ModelSpec{Name: "nope"}, new(metadata.MD))
		if status.Code(err) != codes.NotFound || status.Convert(err).Message() != "Servable not found for request: Latest(nope)" {
			t.Fatalf("err = %v, want NotFound from the upstream", err)
		}
	})

	t.Run("denied", func(t *testing.T) {
		before := len(e.tfs.Requests())
		_, _, err := call(tfpb.ModelSpec{Name: "half_plus_three"}, new(metadata.MD))
		if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "model not allowed: half_plus_three (100%)" {
			t.Fatalf("err = %v, want PermissionDenied with the denied body", err)
		}
		if len(e.tfs.Requests()) != before {
			t.Fatal("a denied call reached TF Serving")
		}
	})
}

// TestContractHeadersSameInBothModes checks that tfgate's answers give the
// same upstream headers under the v1.36 and v1.37 modes.
func TestContractHeadersSameInBothModes(t *testing.T) {
	seenBy := map[Mode]http.Header{}
	for _, mode := range []Mode{V136, V137} {
		e := startE2E(t, mode)
		req, _ := http.NewRequest("GET", "http://"+e.restAddr+"/v1/models/half_plus_two", nil)
		req.Header.Set("X-Tfgate-User", "mallory")
		req.Header.Set("Cookie", "a=b")
		req.Header.Set("X-Request-Id", "fixed")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seenBy[mode] = e.tfs.Requests()[0].Header
	}
	if !reflect.DeepEqual(seenBy[V136], seenBy[V137]) {
		t.Fatalf("upstream headers differ:\nv1.36: %v\nv1.37: %v", seenBy[V136], seenBy[V137])
	}
}
