package validate

import (
	"encoding/json"
	"errors"
	"fmt"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	istiosecurity "istio.io/client-go/pkg/apis/security/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// types maps apiVersion and kind to the typed struct an object must
// decode into. An object of any other kind is an error: a new kind in
// deploy/ needs its type here first.
var types = map[string]func() any{
	"v1/ConfigMap":                                  func() any { return &corev1.ConfigMap{} },
	"v1/Service":                                    func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                             func() any { return &corev1.ServiceAccount{} },
	"v1/Namespace":                                  func() any { return &corev1.Namespace{} },
	"apps/v1/Deployment":                            func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler":        func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":                 func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":            func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor":       func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":       func() any { return &monitoringv1.PrometheusRule{} },
	"security.istio.io/v1/AuthorizationPolicy":      func() any { return &istiosecurity.AuthorizationPolicy{} },
	"security.istio.io/v1/PeerAuthentication":       func() any { return &istiosecurity.PeerAuthentication{} },
	"networking.istio.io/v1/Gateway":                func() any { return &istionetworking.Gateway{} },
	"networking.istio.io/v1/VirtualService":         func() any { return &istionetworking.VirtualService{} },
	"gateway.networking.k8s.io/v1/Gateway":          func() any { return &gwv1.Gateway{} },
	"gateway.networking.k8s.io/v1/HTTPRoute":        func() any { return &gwv1.HTTPRoute{} },
	"gateway.networking.k8s.io/v1/GRPCRoute":        func() any { return &gwv1.GRPCRoute{} },
	"gateway.envoyproxy.io/v1alpha1/SecurityPolicy": func() any { return &egv1a1.SecurityPolicy{} },
	"gateway.envoyproxy.io/v1alpha1/Backend":        func() any { return &egv1a1.Backend{} },
}

// Decode decodes o strictly into its typed struct: an unknown or
// duplicated field anywhere is an error. Istio's specs are protobuf
// messages whose own JSON decoder ignores unknown fields, so their spec is
// decoded again with protojson, which does not.
func Decode(o Object) (any, error) {
	newT, ok := types[o.APIVersion+"/"+o.Kind]
	if !ok {
		return nil, fmt.Errorf("%s %s: no typed struct for %s %s", o.Source, o.ID(), o.APIVersion, o.Kind)
	}
	v := newT()
	if err := strictJSON(o.YAML, v); err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Source, o.ID(), err)
	}
	if spec := istioSpec(v); spec != nil {
		if err := strictProtoSpec(o.YAML, spec); err != nil {
			return nil, fmt.Errorf("%s %s: spec: %w", o.Source, o.ID(), err)
		}
	}
	return v, nil
}

// strictJSON decodes YAML as the API server reads JSON: field names are
// case-sensitive (encoding/json would take "failopen" for "failOpen"),
// and unknown or duplicated fields are errors.
func strictJSON(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// istioSpec returns the protobuf spec of an Istio object, nil for others.
func istioSpec(v any) proto.Message {
	switch x := v.(type) {
	case *istiosecurity.AuthorizationPolicy:
		return &x.Spec
	case *istiosecurity.PeerAuthentication:
		return &x.Spec
	case *istionetworking.Gateway:
		return &x.Spec
	case *istionetworking.VirtualService:
		return &x.Spec
	}
	return nil
}

// strictProtoSpec decodes the document's spec into a fresh message of
// spec's type with protojson, which refuses unknown fields.
func strictProtoSpec(doc []byte, spec proto.Message) error {
	var m struct {
		Spec json.RawMessage `json:"spec"`
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(j, &m); err != nil {
		return err
	}
	fresh := spec.ProtoReflect().New().Interface()
	return protojson.Unmarshal(m.Spec, fresh)
}

// StrictProtoYAML decodes YAML into msg with protojson (unknown fields
// fail): for Istio's MeshConfig.
func StrictProtoYAML(data []byte, msg proto.Message) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(j, msg)
}
