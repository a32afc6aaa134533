// Package loadgen measures tfgate's ext_authz Check path the way Envoy drives
// it: real CheckRequests over real loopback gRPC, against tfgate wired as
// cmd/extauthz wires it (envoy.NewServer, authz.New, the embedded Rego
// policy, a session store, a decision log), next to a no-op Authorization
// server that serves as the baseline.
//
// The pieces are separate so that each can be tested on its own:
//
//   - Histogram: latency percentiles in bounded memory;
//   - Run: a closed-loop load loop with a concurrency, a duration and a
//     request bound;
//   - Start and Server: one scenario's gRPC server on 127.0.0.1:0, the
//     requests to send it and the outcome they must get;
//   - Measure: dial, check the first answer, warm up, then Run;
//   - StartRedis: a throwaway redis-server for the Redis scenario.
//
// cmd/tfgate-bench is the command line around it.
package loadgen
