package pysaml2idp

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// The Debian binaries this package runs. /usr/bin/python3 on purpose: a
// python3 earlier on PATH (pyenv, a venv) usually lacks pysaml2.
const (
	pythonPath  = "/usr/bin/python3"
	xmlsec1Path = "/usr/bin/xmlsec1"
)

// findSaml2 locates pysaml2 without importing it: the import (its XML
// schemas, mostly) takes most of a second, and New imports it anyway.
const findSaml2 = `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("saml2.server") else "saml2.server not found")`

// available runs the check once per test binary.
var available = sync.OnceValue(func() error {
	if _, err := os.Stat(xmlsec1Path); err != nil {
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	out, err := exec.Command(pythonPath, "-c", findSaml2).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w (%s: %v: %s)", ErrUnavailable, pythonPath, err, strings.TrimSpace(string(out)))
	}
	return nil
})

// Available reports whether /usr/bin/python3 finds pysaml2 (saml2.server)
// and /usr/bin/xmlsec1 exists. Its error says how to install them. New
// reports a pysaml2 that is found but fails to import, with Python's words.
func Available() error { return available() }
