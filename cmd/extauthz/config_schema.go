package main

import (
	"reflect"
	"strings"
	"time"
)

// configSchema is the JSON Schema (2020-12) of the config file, made from
// the Config types themselves: every yaml field, its type, its default
// (from DefaultConfig) and its description (docs, by "Type.Field", read
// from the Go comments by the test that writes extauthz.schema.json) and,
// for enum-like fields, the values of configEnums. A new field needs
// nothing here.
func configSchema(docs map[string]string) map[string]any {
	s := schemaOf(reflect.TypeFor[Config](), reflect.ValueOf(DefaultConfig()), docs, "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/tfgate/tfgate/extauthz.schema.json"
	s["title"] = "extauthz (tfgate) configuration"
	s["description"] = "The file of `extauthz serve --config FILE`; extauthz.example.yaml shows every field with its default. " +
		"Generated from cmd/extauthz's Config types: do not edit."
	return s
}

// durationPattern is what time.ParseDuration accepts, and 0.
const durationPattern = `^(0|[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|ms|s|m|h))+)$`

// schemaOf is the schema of a value of type t at path (the configEnums
// key: "a.b", "*" for a map key, "[]" for a list element).
func schemaOf(t reflect.Type, def reflect.Value, docs map[string]string, path string) map[string]any {
	s := map[string]any{}
	switch {
	case t == reflect.TypeFor[time.Duration]():
		s["type"] = "string"
		s["pattern"] = durationPattern
		if def.IsValid() {
			s["default"] = durationString(def.Interface().(time.Duration))
		}
		return s
	case t.Kind() == reflect.Struct:
		s["type"] = "object"
		s["additionalProperties"] = false
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			var fdef reflect.Value
			if def.IsValid() {
				fdef = def.Field(i)
			}
			p := schemaOf(f.Type, fdef, docs, joinPath(path, name))
			if d := docs[t.Name()+"."+f.Name]; d != "" {
				p["description"] = d
			} else if d := docs[f.Type.Name()]; d != "" {
				p["description"] = d // a block: its type's comment
			}
			props[name] = p
		}
		s["properties"] = props
		return s
	case t.Kind() == reflect.Slice:
		s["type"] = "array"
		s["items"] = schemaOf(t.Elem(), reflect.Value{}, docs, path+"[]")
		if def.IsValid() && def.Len() > 0 {
			s["default"] = def.Interface()
		}
		return s
	case t.Kind() == reflect.String:
		s["type"] = "string"
		if e, ok := configEnums[path]; ok {
			s["enum"] = e
		}
	case t.Kind() == reflect.Bool:
		s["type"] = "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		s["type"] = "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		s["type"] = "number"
	case t.Kind() == reflect.Map:
		s["type"] = "object"
		s["additionalProperties"] = schemaOf(t.Elem(), reflect.Value{}, docs, joinPath(path, "*"))
		return s
	}
	if def.IsValid() && !def.IsZero() {
		s["default"] = def.Interface()
	}
	return s
}

// durationString writes a duration as the file would: "12h", "1m", "50ms".
func durationString(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
