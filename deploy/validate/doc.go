// Package validate checks tfgate's deployment files without a cluster:
// the Helm chart (deploy/helm/tfgate) rendered with Helm's own engine for
// each example values file, the plain manifests (deploy/kubernetes) it
// generates, and the Istio (deploy/istio) and Envoy Gateway
// (deploy/envoy-gateway) objects. Every object is decoded strictly into
// its typed API struct (unknown fields fail), and the tests check what
// ties the objects together: ports, probe paths, selectors, the
// extension provider, and that the rendered tfgate config passes
// `extauthz config check`.
//
// It is a module of its own so that Helm, client-go and the Istio and
// Envoy Gateway APIs never enter tfgate's main module; `make test` runs it.
// Nothing here talks to a cluster: these files are validated by rendering
// and decoding, not by running them.
package validate
