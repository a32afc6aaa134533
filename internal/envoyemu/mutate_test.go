package envoyemu

import (
	"net/http"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

func TestOKRequestHeaderMutations(t *testing.T) {
	client := http.Header{"X-Multi": {"a", "b"}, "X-Exist": {"orig"}, "X-Remove": {"r"}}
	tests := map[string]struct {
		mode   Mode
		ok     *authv3.OkHttpResponse
		want   map[string][]string // canonical key → upstream values; nil slice = absent
		target string              // expected upstream request target, default "/p"
		host   string              // expected upstream Host, default the client's
	}{
		"set replaces every value": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("X-Multi", "s", nil, 0)}},
			want: map[string][]string{"X-Multi": {"s"}}},
		"append:false is a set": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-new", "v", no, 0)}},
			want: map[string][]string{"X-New": {"v"}}},
		"append:true joins the first entry": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-multi", "c", yes, 0)}},
			want: map[string][]string{"X-Multi": {"a,c", "b"}}},
		"append:true on absent header is dropped": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv("x-tfgate-user", "eve", yes, 0)}},
			want: map[string][]string{"X-Tfgate-User": nil}},
		"append_action ignored in v1.36": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
			hv("x-exist", "v", nil, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
			hv("x-absent", "v", nil, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS)}},
			want: map[string][]string{"X-Exist": {"v"}, "X-Absent": {"v"}}},
		"sets run before appends": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
			hv("x-b", "2", yes, 0), hv("x-b", "1", nil, 0)}},
			want: map[string][]string{"X-B": {"1,2"}}},
		"removal runs after set": {ok: &authv3.OkHttpResponse{
			Headers: []*corev3.HeaderValueOption{hv("x-gone", "v", no, 0)}, HeadersToRemove: []string{"x-gone", "X-REMOVE"}},
			want: map[string][]string{"X-Gone": nil, "X-Remove": nil, "X-Exist": {"orig"}}},
		"pseudo-headers and host are not removable": {ok: &authv3.OkHttpResponse{HeadersToRemove: []string{":path", ":authority", "host", "Host", ":method"}},
			want: map[string][]string{"X-Exist": {"orig"}}},
		"authority can be set": {ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{hv(":authority", "tfserving:8501", nil, 0)}},
			host: "tfserving:8501"},
		// v1.37.0 reads the same rule (no release has PR #42878).
		"v1.37: append:true on absent header is dropped": {mode: V137, ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
			hv("x-absent", "v", yes, 0), hv("x-exist", "w", yes, 0)}},
			want: map[string][]string{"X-Absent": nil, "X-Exist": {"orig,w"}}},
		"v1.37: unset append is a set, append_action ignored": {mode: V137, ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
			hv("x-exist", "v", nil, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)}},
			want: map[string][]string{"X-Exist": {"v"}}},
		"tfgate contract: explicit false plus overwrite": {mode: V137, ok: &authv3.OkHttpResponse{Headers: []*corev3.HeaderValueOption{
			hv("x-exist", "v", no, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)}},
			want: map[string][]string{"X-Exist": {"v"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(okResp(tc.ok)), func(c *Config) { c.Mode = tc.mode })
			hdr := client.Clone()
			hdr.Set("Host", "envoy:8080")
			if resp, _ := h.do(t, "GET", "/p", hdr, nil); resp.StatusCode != 200 {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			up := h.upstream.last(t)
			for k, want := range tc.want {
				if got := up.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("upstream %s = %q, want %q", k, got, want)
				}
			}
			wantTarget, wantHost := "/p", "envoy:8080"
			if tc.target != "" {
				wantTarget = tc.target
			}
			if tc.host != "" {
				wantHost = tc.host
			}
			if up.URI != wantTarget || up.Host != wantHost || up.Method != "GET" {
				t.Errorf("upstream %s %s Host %s, want GET %s Host %s", up.Method, up.URI, up.Host, wantTarget, wantHost)
			}
		})
	}
}

func TestQueryParameterMutations(t *testing.T) {
	qp := func(k, v string) *corev3.QueryParameter { return &corev3.QueryParameter{Key: k, Value: v} }
	tests := map[string]struct {
		target string
		set    []*corev3.QueryParameter
		remove []string
		want   string
	}{
		"no mutation keeps order":       {target: "/p?b=2&a=1", want: "/p?b=2&a=1"},
		"set rebuilds sorted":           {target: "/p?b=2&a=1&a=3&c", set: []*corev3.QueryParameter{qp("a", "9")}, want: "/p?a=9&b=2&c="},
		"remove":                        {target: "/p?b=2&a=1&c", remove: []string{"c", "z"}, want: "/p?a=1&b=2"},
		"set then remove":               {target: "/p?x=1", set: []*corev3.QueryParameter{qp("y", "2")}, remove: []string{"y"}, want: "/p?x=1"},
		"remove all drops the ?":        {target: "/p?a=1", remove: []string{"a"}, want: "/p"},
		"add to a path without query":   {target: "/p", set: []*corev3.QueryParameter{qp("k", "a/b:c")}, want: "/p?k=a/b:c"},
		"not decoded, case-sensitive":   {target: "/p?A=1&a%20b=2", remove: []string{"a b"}, want: "/p?A=1&a%20b=2"},
		"multi values keep their order": {target: "/p?z=1&m=2&m=1", remove: []string{"z"}, want: "/p?m=2&m=1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ok := &authv3.OkHttpResponse{QueryParametersToSet: tc.set, QueryParametersToRemove: tc.remove}
			if got := rewriteQuery(tc.target, tc.set, tc.remove); (len(tc.set) > 0 || len(tc.remove) > 0) && got != tc.want {
				t.Fatalf("rewriteQuery = %q, want %q", got, tc.want)
			}
			h := newHarness(t, reply(okResp(ok)), nil)
			if resp, _ := h.do(t, "GET", tc.target, nil, nil); resp.StatusCode != 200 {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if got := h.upstream.last(t).URI; got != tc.want {
				t.Fatalf("upstream target = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResponseHeadersToAdd(t *testing.T) {
	adds := []*corev3.HeaderValueOption{
		hv("x-upstream", "set", no, 0),
		hv("x-upstream", "added", yes, 0),
		hv("x-new", "n1", nil, corev3.HeaderValueOption_ADD_IF_ABSENT),
		hv("x-upstream", "ignored", nil, corev3.HeaderValueOption_ADD_IF_ABSENT),
		hv("x-missing", "ignored", nil, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS),
		hv("x-dup", "d", nil, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD),
	}
	tests := map[string]struct {
		mode Mode
		want map[string][]string
	}{
		// v1.36 groups: adds, then sets, then add-if-absent, then overwrite-if-exists.
		"v1.36 grouped":     {mode: V136, want: map[string][]string{"X-Upstream": {"set"}, "X-New": {"n1"}, "X-Missing": nil, "X-Dup": {"d"}}},
		"v1.37 grouped too": {mode: V137, want: map[string][]string{"X-Upstream": {"set"}, "X-New": {"n1"}, "X-Missing": nil, "X-Dup": {"d"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, reply(okResp(&authv3.OkHttpResponse{ResponseHeadersToAdd: adds})), func(c *Config) { c.Mode = tc.mode })
			resp, body := h.do(t, "GET", "/", nil, nil)
			if resp.StatusCode != 200 || body != "upstream" {
				t.Fatalf("response = %d %q", resp.StatusCode, body)
			}
			for k, want := range tc.want {
				if got := resp.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if _, ok := h.upstream.last(t).Header["X-New"]; ok {
				t.Error("response_headers_to_add leaked into the upstream request")
			}
		})
	}
}
