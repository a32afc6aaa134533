// Command manifests renders the Helm chart with its default values into
// the plain manifests under deploy/kubernetes (`make manifests`). A test
// in deploy/validate fails when the committed file differs, so the two
// cannot drift.
package main

import (
	"fmt"
	"os"

	"github.com/tfgate/tfgate/deploy/validate"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: manifests CHART_DIR OUT_FILE")
		os.Exit(2)
	}
	_, stream, err := validate.Render(os.Args[1])
	if err == nil {
		err = os.WriteFile(os.Args[2], validate.ManifestsFile(stream), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifests:", err)
		os.Exit(1)
	}
}
