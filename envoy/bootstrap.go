package envoy

import _ "embed" // for BootstrapYAML

// BootstrapYAML is envoy.yaml, the Envoy bootstrap tfgate ships: what the
// development proxy of `extauthz dev` and the end-to-end tests configure
// the Envoy emulator from, so they behave like the shipped config.
//
//go:embed envoy.yaml
var BootstrapYAML []byte
