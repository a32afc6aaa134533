package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tfgate/tfgate/rego"
)

// statusz is the /statusz document: what an operator asks first, in one
// JSON answer. It holds no secret: no Redis URL or password, no session.
type statusz struct {
	Version       string        `json:"version"`
	StartedAt     time.Time     `json:"started_at"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	Ready         bool          `json:"ready"`
	Policy        policyStatusz `json:"policy"`
	Sessions      storeStatusz  `json:"sessions"`
	IdPs          []idpStatus   `json:"idps"`
	Tracing       bool          `json:"tracing"`
}

type policyStatusz struct {
	Dir string `json:"dir"`
	rego.Status
}

type storeStatusz struct {
	Store string `json:"store"`
	// Redis only.
	Mode    string   `json:"mode,omitempty"`
	Addrs   []string `json:"addrs,omitempty"`
	Healthy bool     `json:"healthy"`
	Error   string   `json:"error,omitempty"`
	// Nodes is the number of Redis nodes in Topology (a cluster's
	// masters and replicas, or a master and its replicas).
	Nodes int `json:"nodes,omitempty"`
	// Topology is each node's address and role, as Redis last reported
	// them (asked every topologyInterval in the background, never by a
	// /statusz request).
	Topology     *redisTopology `json:"topology,omitempty"`
	Pool         *poolStatusz   `json:"pool,omitempty"`
	Cache        *cacheStatusz  `json:"cache,omitempty"`
	MemoryLength *int           `json:"memory_entries,omitempty"`
}

type poolStatusz struct {
	Total    uint32 `json:"total_conns"`
	Idle     uint32 `json:"idle_conns"`
	Hits     uint32 `json:"hits"`
	Misses   uint32 `json:"misses"`
	Timeouts uint32 `json:"timeouts"`
}

type cacheStatusz struct {
	Entries    int    `json:"entries"`
	Hits       uint64 `json:"hits"`
	Misses     uint64 `json:"misses"`
	Evictions  uint64 `json:"evictions"`
	Subscribed bool   `json:"invalidation_subscribed"`
}

// statusHandler serves /statusz.
func (o *observability) statusHandler(saml *samlSP) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		st := statusz{
			Version: version, StartedAt: o.started.UTC(), UptimeSeconds: time.Since(o.started).Seconds(),
			Ready:  o.store.Ready(ctx) == nil,
			Policy: policyStatusz{Dir: policyName(o.cfg.Policy), Status: o.policy.Status()},
			IdPs:   saml.idpStates(o.idps), Tracing: o.tracing,
			Sessions: o.sessions(ctx),
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
}

func (o *observability) sessions(ctx context.Context) storeStatusz {
	s := o.store
	out := storeStatusz{Store: o.cfg.Sessions.Store}
	if s.redis == nil {
		out.Healthy = true
		if m, ok := s.Backend.(interface{ Len() int }); ok {
			n := m.Len()
			out.MemoryLength = &n
		}
		return out
	}
	rc := o.cfg.Sessions.Redis
	out.Mode = rc.Mode
	if rc.URL == "" { // a URL may carry a password
		out.Addrs = rc.Addrs
	}
	if err := s.Ready(ctx); err != nil {
		out.Error = err.Error()
	} else {
		out.Healthy = true
	}
	if topo := s.topology.load(); topo != nil {
		out.Topology, out.Nodes = topo, len(topo.Nodes)
	}
	if p := s.client.PoolStats(); p != nil {
		out.Pool = &poolStatusz{Total: p.TotalConns, Idle: p.IdleConns, Hits: p.Hits, Misses: p.Misses, Timeouts: p.Timeouts}
	}
	if s.cache != nil {
		cs := s.cache.Stats()
		out.Cache = &cacheStatusz{Entries: s.cache.Len(), Hits: cs.Hits, Misses: cs.Misses, Evictions: cs.Evictions, Subscribed: cs.Subscribed}
	}
	return out
}
