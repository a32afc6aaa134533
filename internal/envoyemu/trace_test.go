package envoyemu

import (
	"context"
	"crypto/rand"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestZipkinCheckMetadata(t *testing.T) {
	const id = "463ac35c9f6413ad48485a3953bb6124"
	for name, tc := range map[string]struct {
		h       headerMap
		trace   string
		sampled string
	}{
		"b3 multi":  {h: headerMap{"x-b3-traceid": {id}, "x-b3-spanid": {"a2fb4a1d1a96d312"}, "x-b3-sampled": {"0"}}, trace: id, sampled: "0"},
		"b3 single": {h: headerMap{"b3": {id + "-a2fb4a1d1a96d312-1"}}, trace: id, sampled: "1"},
		"new trace": {h: headerMap{}, sampled: "1"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, tr := zipkinCheck(context.Background(), tc.h, rand.Reader)
			md, _ := metadata.FromOutgoingContext(ctx)
			get := func(k string) string { return md.Get(k)[0] }
			if tc.trace != "" && tr.TraceID != tc.trace {
				t.Errorf("trace %s, want the client's %s", tr.TraceID, tc.trace)
			}
			if len(tr.TraceID) != 32 || get("x-b3-traceid") != tr.TraceID || get("x-b3-spanid") != tr.CheckSpanID ||
				get("x-b3-parentspanid") != tr.RequestSpanID || get("x-b3-sampled") != tc.sampled ||
				tr.CheckSpanID == tr.RequestSpanID || len(tr.CheckSpanID) != 16 {
				t.Errorf("metadata %v for trace %+v", md, tr)
			}
		})
	}
}
