package validate

import (
	"bytes"
	"os"
	"testing"
)

// TestManifestsMatchChart: deploy/kubernetes/tfgate.yaml is exactly the
// chart rendered with its defaults. Regenerate it with `make manifests`.
func TestManifestsMatchChart(t *testing.T) {
	_, stream, err := Render(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(manifests)
	if err != nil {
		t.Fatal(err)
	}
	if want := ManifestsFile(stream); !bytes.Equal(committed, want) {
		t.Fatalf("%s differs from the chart's default rendering: run `make manifests` and commit the result", manifests)
	}
	objs, err := LoadFile(manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if _, err := Decode(o); err != nil {
			t.Error(err)
		}
	}
}
