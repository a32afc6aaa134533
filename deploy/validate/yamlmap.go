package validate

import (
	"os"

	networkingapi "istio.io/api/networking/v1alpha3"
	"sigs.k8s.io/yaml"
)

// networkingapiMatch is Istio's HTTPMatchRequest.
type networkingapiMatch = networkingapi.HTTPMatchRequest

// readYAMLMap reads a YAML file as a map, refusing duplicate keys.
func readYAMLMap(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, yaml.Unmarshal(j, &m)
}
