// Package e2e holds tfgate's end-to-end tests: clients drive the Envoy
// filter emulator (internal/envoyemu), which calls the real ext_authz
// gRPC server over loopback, which decides with the real Rego engine on
// sessions in a real redis-server, in front of the TF Serving stand-in
// (internal/tfservingstandin). The package has no non-test code.
package e2e
