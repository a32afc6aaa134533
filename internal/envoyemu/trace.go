package envoyemu

import (
	"context"
	"encoding/hex"
	"io"
	"strings"

	"google.golang.org/grpc/metadata"
)

// Trace is what an emulated Zipkin tracer propagated for one Check.
type Trace struct {
	// TraceID is the request's trace: the client's (from x-b3-* or a single
	// b3 header) or a new one.
	TraceID string
	// RequestSpanID is the HCM's span for the downstream request.
	RequestSpanID string
	// CheckSpanID is the span of the ext_authz gRPC call, a child of
	// RequestSpanID; the authorization server sees it as its parent.
	CheckSpanID string
	// Sampled is the sampling decision sent.
	Sampled bool
}

// zipkinCheck emulates Envoy's Zipkin tracer around the ext_authz call:
// the HCM's request span continues the client's B3 context (or starts a
// trace), and the gRPC client's child span for the Check call is injected
// into the call's metadata as B3 multi headers (x-b3-traceid, x-b3-spanid,
// x-b3-parentspanid, x-b3-sampled). The CheckRequest's headers are the
// client's, untouched: Envoy injects into the upstream request only at
// the router, after ext_authz.
func zipkinCheck(ctx context.Context, h headerMap, rnd io.Reader) (context.Context, Trace) {
	tr := Trace{TraceID: h.get("x-b3-traceid"), Sampled: true}
	if tr.TraceID == "" {
		if b3 := h.get("b3"); b3 != "" {
			parts := strings.Split(b3, "-")
			if len(parts) >= 2 {
				tr.TraceID = parts[0]
			}
			if len(parts) >= 3 {
				tr.Sampled = parts[2] == "1" || parts[2] == "d"
			}
		}
	} else if s := h.get("x-b3-sampled"); s != "" {
		tr.Sampled = s == "1" || s == "true"
	}
	if tr.TraceID == "" {
		tr.TraceID = randomID(rnd, 16)
	}
	tr.RequestSpanID, tr.CheckSpanID = randomID(rnd, 8), randomID(rnd, 8)
	sampled := "0"
	if tr.Sampled {
		sampled = "1"
	}
	md := metadata.Pairs("x-b3-traceid", tr.TraceID, "x-b3-spanid", tr.CheckSpanID,
		"x-b3-parentspanid", tr.RequestSpanID, "x-b3-sampled", sampled)
	return metadata.NewOutgoingContext(ctx, md), tr
}

func randomID(rnd io.Reader, n int) string {
	b := make([]byte, n)
	_, _ = io.ReadFull(rnd, b)
	return hex.EncodeToString(b)
}
