package envoy

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// HTTPConfig configures tfgate's HTTP listener.
type HTTPConfig struct {
	// Ready reports whether tfgate can decide (its session store answers,
	// a policy is loaded); nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil leaves it out.
	Metrics http.Handler
	// Mount adds handlers by pattern (the SAML SP's "/saml/", "/token").
	Mount map[string]http.Handler
}

// NewHTTPHandler returns the mux of tfgate's HTTP listener: /healthz
// (alive), /readyz (able to decide), /metrics, and whatever is mounted.
func NewHTTPHandler(cfg HTTPConfig) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := cfg.Ready(ctx); err != nil {
				// The cause goes to the server log, not to anonymous callers.
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	for pattern, h := range cfg.Mount {
		mux.Handle(pattern, h)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
