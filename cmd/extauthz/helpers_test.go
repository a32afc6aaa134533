package main

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func mustNode(tb testing.TB, data []byte) *yaml.Node {
	tb.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		tb.Fatal(err)
	}
	return root.Content[0]
}

// fieldPaths lists the dotted paths of every leaf field of a config struct.
func fieldPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		path := join(prefix, name)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() != "time" {
			out = append(out, fieldPaths(f.Type, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}
