package rego

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestGrants reads the default policy's grants for a person's groups, and
// a custom data file's list and single-object forms.
func TestGrants(t *testing.T) {
	e, err := New(t.Context(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := e.Grants([]string{"ml-engineers", "nobody-group"})
	if len(got) == 0 || got[0].Group != "ml-engineers" || len(got[0].Models) == 0 || len(got[0].APIs) == 0 {
		t.Fatalf("default policy grants for ml-engineers: %+v", got)
	}
	if g := e.Grants(nil); len(g) != 0 {
		t.Errorf("no groups, grants %+v", g)
	}

	dir := t.TempDir()
	policy, _ := os.ReadFile("policies/tfgate.rego")
	must(t, os.WriteFile(filepath.Join(dir, "tfgate.rego"), policy, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "data.yaml"), []byte(`tfgate:
  admin_groups: []
  grants:
    a:
      models: ["resnet*"]
      versions: [1, "latest"]
      apis: [predict]
    b:
      - models: [bert]
        labels: [stable]
        apis: ["*"]
`), 0o644))
	e, err = New(t.Context(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []Grant{
		{Group: "a", Models: []string{"resnet*"}, APIs: []string{"predict"}, Versions: []string{"1", "latest"}, Labels: []string{}},
		{Group: "b", Models: []string{"bert"}, APIs: []string{"*"}, Versions: []string{}, Labels: []string{"stable"}},
	}
	if got := e.Grants([]string{"a", "b"}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
