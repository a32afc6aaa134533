package rego

import (
	"fmt"
	"slices"
)

// Grant is one grant of the default policy's data, as a person reads it:
// a group may call these APIs on these models' versions and labels.
type Grant struct {
	Group    string
	Models   []string
	APIs     []string
	Versions []string
	Labels   []string
}

// Grants lists what the policy's data grants the given groups, for showing
// a person what they may use: data.tfgate.grants as the default policy
// lays it out (see policies/data.yaml). A policy whose data has another
// shape lists nothing. It only reads the data; the policy still decides
// every request.
func (e *Evaluator) Grants(groups []string) []Grant {
	tfgate, _ := e.cur.Load().data["tfgate"].(map[string]any)
	all, _ := tfgate["grants"].(map[string]any)
	var out []Grant
	for _, g := range groups {
		var list []any
		switch v := all[g].(type) {
		case []any:
			list = v
		case map[string]any:
			list = []any{v} // a single grant object
		}
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			out = append(out, Grant{Group: g, Models: strs(m["models"]), APIs: strs(m["apis"]),
				Versions: strs(m["versions"]), Labels: strs(m["labels"])})
		}
	}
	return out
}

// strs turns a data list of strings or numbers into strings.
func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		default:
			out = append(out, fmt.Sprint(x))
		}
	}
	return slices.Clip(out)
}
