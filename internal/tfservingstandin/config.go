package tfservingstandin

import (
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// Signature names every model serves unless Model.Signatures says otherwise.
const (
	SignatureDefault  = "serving_default"
	SignatureClassify = "classify_x_to_y"
	SignatureRegress  = "regress_x_to_y"
)

// Config lists the models the stand-in serves.
type Config struct {
	// Models served; names must be unique. default: none (use DefaultConfig).
	Models []Model
}

// Model is one servable: y = Slope*x + Intercept, elementwise, with input
// alias "x" and output alias "y".
type Model struct {
	// Name of the model. Required.
	Name string
	// Versions available; the largest is "latest". Required, non-empty.
	Versions []int64
	// Labels maps version labels to versions, which must be in Versions.
	// default: none.
	Labels map[string]int64
	// Signatures the model accepts. default: serving_default,
	// classify_x_to_y, regress_x_to_y.
	Signatures []string
	// Slope and Intercept define the model function.
	Slope, Intercept float32
}

// DefaultConfig serves half_plus_two (versions 1 and 2; stable→1,
// canary→2) and half_plus_three (version 1).
func DefaultConfig() Config {
	return Config{Models: []Model{
		{Name: "half_plus_two", Versions: []int64{1, 2}, Labels: map[string]int64{"stable": 1, "canary": 2}, Slope: 0.5, Intercept: 2},
		{Name: "half_plus_three", Versions: []int64{1}, Slope: 0.5, Intercept: 3},
	}}
}

// validate checks cfg and returns the models by name, with defaults filled.
func (cfg Config) validate() (map[string]*Model, error) {
	models := make(map[string]*Model, len(cfg.Models))
	for i := range cfg.Models {
		m := cfg.Models[i]
		if m.Name == "" || len(m.Versions) == 0 {
			return nil, fmt.Errorf("tfservingstandin: model %d needs a name and at least one version", i)
		}
		if _, dup := models[m.Name]; dup {
			return nil, fmt.Errorf("tfservingstandin: duplicate model %q", m.Name)
		}
		for l, v := range m.Labels {
			if !slices.Contains(m.Versions, v) {
				return nil, fmt.Errorf("tfservingstandin: model %q label %q points at missing version %d", m.Name, l, v)
			}
		}
		if m.Signatures == nil {
			m.Signatures = []string{SignatureDefault, SignatureClassify, SignatureRegress}
		}
		m.Versions = slices.Clone(m.Versions)
		slices.Sort(m.Versions)
		models[m.Name] = &m
	}
	return models, nil
}

// latest returns the highest version.
func (m *Model) latest() int64 { return m.Versions[len(m.Versions)-1] }

// apply runs the model function over xs.
func (m *Model) apply(xs []float32) []float32 {
	ys := make([]float32, len(xs))
	for i, x := range xs {
		ys[i] = m.Slope*x + m.Intercept
	}
	return ys
}

// resolve finds the servable a ModelSpec names, the way
// ServableRequestFromModelSpec does, and checks the signature. It returns
// the model, the version served and the effective signature name.
func (s *Server) resolve(spec tfpb.ModelSpec) (*Model, int64, string, error) {
	if spec.Name == "" {
		return nil, 0, "", apiErrorf(codes.InvalidArgument, "ModelSpec has no name specified.")
	}
	m, ok := s.models[spec.Name]
	if !ok {
		return nil, 0, "", apiErrorf(codes.NotFound, "Servable not found for request: %s", spec)
	}
	version := m.latest()
	switch {
	case spec.Version != nil:
		if !slices.Contains(m.Versions, *spec.Version) {
			return nil, 0, "", apiErrorf(codes.NotFound, "Servable not found for request: %s", spec)
		}
		version = *spec.Version
	case spec.Label != nil:
		v, ok := m.Labels[*spec.Label]
		if !ok {
			return nil, 0, "", apiErrorf(codes.InvalidArgument, "Unrecognized servable version label: %s", *spec.Label)
		}
		version = v
	}
	sig := spec.Signature
	if sig == "" {
		sig = SignatureDefault
	}
	if !slices.Contains(m.Signatures, sig) {
		return nil, 0, "", apiErrorf(codes.InvalidArgument, "Serving signature name: %q not found in signature def", sig)
	}
	return m, version, sig, nil
}
