package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const schemaFile = "../../extauthz.schema.json"

// goDocs reads the doc comments of this package's struct fields, by
// "Type.Field": the descriptions of the schema.
func goDocs(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, decl := range f.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					doc := ts.Doc
					if doc == nil {
						doc = gd.Doc
					}
					docs[ts.Name.Name] = oneParagraph(doc)
					prev := ""
					for _, field := range st.Fields.List {
						// A field without a comment shares the one above
						// (CertFile and KeyFile, the three timeouts...).
						if text := oneParagraph(field.Doc); text != "" {
							prev = text
						}
						for _, name := range field.Names {
							docs[ts.Name.Name+"."+name.Name] = prev
						}
					}
				}
			}
		}
	}
	return docs
}

// parseDuration is time.ParseDuration, with "0" as the file allows.
func parseDuration(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}

func oneParagraph(g *ast.CommentGroup) string {
	return strings.Join(strings.Fields(g.Text()), " ")
}

// TestConfigSchemaUpToDate: extauthz.schema.json is what the Config types
// make today (go test -run TestConfigSchemaUpToDate -update rewrites it).
func TestConfigSchemaUpToDate(t *testing.T) {
	got, err := json.MarshalIndent(configSchema(goDocs(t)), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("extauthz.schema.json is out of date with the Config types (%v): run\n  go test ./cmd/extauthz -run TestConfigSchemaUpToDate -update", err)
	}
}

// TestConfigSchemaDescribesTheExample: every field of the example config
// is in the schema with the example's (default) value's type, every
// default in the schema is the one DefaultConfig has, and every field is
// described.
func TestConfigSchemaDescribesTheExample(t *testing.T) {
	schema := configSchema(goDocs(t))
	data, err := os.ReadFile("../../extauthz.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := yaml.Unmarshal(data, &example); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s map[string]any, v any)
	walk = func(path string, s map[string]any, v any) {
		if path != "" && s["description"] == nil && s["items"] == nil {
			t.Errorf("%s has no description (a doc comment on its field)", path)
		}
		switch s["type"] {
		case "object":
			m, ok := v.(map[string]any)
			if !ok {
				t.Errorf("%s: example has %T, schema an object", path, v)
				return
			}
			props, _ := s["properties"].(map[string]any) // none for a map (additionalProperties)
			for k, sub := range props {
				if _, ok := m[k]; !ok {
					t.Errorf("%s.%s is in the schema but not in the example", path, k)
				}
				walk(strings.TrimPrefix(path+"."+k, "."), sub.(map[string]any), m[k])
			}
			for k := range m {
				if props[k] == nil {
					t.Errorf("%s.%s is in the example but not in the schema", path, k)
				}
			}
		case "string":
			if p, ok := s["pattern"].(string); ok {
				d, _ := v.(string)
				if !regexp.MustCompile(p).MatchString(d) {
					t.Errorf("%s: example %q does not match the duration pattern", path, d)
				}
				if _, err := time.ParseDuration(d); err != nil && d != "0" {
					t.Errorf("%s: %v", path, err)
				}
				if def, ok := s["default"].(string); ok && parseDuration(def) != parseDuration(d) {
					t.Errorf("%s: schema default %q, example %q", path, def, d)
				}
			} else if _, ok := v.(string); !ok {
				t.Errorf("%s: example has %T, schema a string", path, v)
			}
		case "integer":
			if _, ok := v.(int); !ok {
				t.Errorf("%s: example has %T, schema an integer", path, v)
			}
		case "boolean":
			if _, ok := v.(bool); !ok {
				t.Errorf("%s: example has %T, schema a boolean", path, v)
			}
		case "array":
			if _, ok := v.([]any); !ok {
				t.Errorf("%s: example has %T, schema an array", path, v)
			}
		}
	}
	walk("", schema, example)
}

// TestConfigSchemaValidates: a JSON Schema validator (2020-12) accepts the
// example config and refuses the file of every mistake, so the schema an
// editor loads says what config check says.
func TestConfigSchemaValidates(t *testing.T) {
	c := jsonschema.NewCompiler()
	sch, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compiling the schema: %v", err)
	}
	load := func(path string) any {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		// Through JSON, as an editor sees it: YAML's ints become numbers.
		j, _ := json.Marshal(v)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	if err := sch.Validate(load("../../extauthz.example.yaml")); err != nil {
		t.Errorf("the example config does not validate: %v", err)
	}
	err = sch.Validate(load("testdata/config/bad.yaml"))
	if err == nil {
		t.Fatal("the file of mistakes validates")
	}
	for _, want := range []string{"max_entrys", "/listen/shutdown_timeout", "/sessions/redis/db", "/sessions/redis/tls/enabled", "/saml/return_to_hosts"} {
		if !strings.Contains(fmt.Sprintf("%#v", err), want) {
			t.Errorf("the schema does not refuse %s:\n%#v", want, err)
		}
	}
}

// TestConfigEnums checks that validate and the schema agree on every
// enum-like field: the schema lists exactly configEnums' values at that
// path, validate accepts each of them there and refuses anything else.
func TestConfigEnums(t *testing.T) {
	schema := configSchema(nil)
	for field, values := range configEnums {
		t.Run(field, func(t *testing.T) {
			node := schema
			for _, part := range strings.Split(field, ".") {
				var next any
				if part == "*" {
					next = node["additionalProperties"]
				} else if props, ok := node["properties"].(map[string]any); ok {
					next = props[part]
				}
				n, ok := next.(map[string]any)
				if !ok {
					t.Fatalf("the schema has no field %s (at %q)", field, part)
				}
				node = n
			}
			if got := fmt.Sprint(node["enum"]); got != fmt.Sprint(values) {
				t.Errorf("schema enum %s, configEnums %v", got, values)
			}
			path := strings.ReplaceAll(field, "*", "k")
			problemsAt := func(v string) []string {
				doc := map[string]any{}
				if strings.HasPrefix(field, "sessions.redis.") {
					setPath(doc, "sessions.store", "redis") // validated only then
				}
				setPath(doc, path, v)
				data, err := yaml.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				_, err = ParseConfig("c.yaml", data, func(string) (string, bool) { return "", false })
				var msgs []string
				if cerr, ok := err.(*ConfigError); ok {
					for _, p := range cerr.Problems {
						if p.Path == path {
							msgs = append(msgs, p.Msg)
						}
					}
				}
				return msgs
			}
			for _, v := range values {
				if msgs := problemsAt(v); len(msgs) > 0 {
					t.Errorf("validate refuses %q: %v", v, msgs)
				}
			}
			for _, v := range []string{"not-a-value", strings.ToUpper(values[len(values)-1]) + "x"} {
				if msgs := problemsAt(v); len(msgs) != 1 || !strings.Contains(msgs[0], "is not one of") {
					t.Errorf("validate of %q at %s: %v, want one \"is not one of\"", v, path, msgs)
				}
			}
		})
	}
}

// setPath sets doc's field at a dotted path, making the maps on the way.
func setPath(doc map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := doc[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			doc[p] = next
		}
		doc = next
	}
	doc[parts[len(parts)-1]] = v
}
