// Package keyringtest runs a real Secret Service for tests: a private
// D-Bus session bus and an unlocked GNOME Keyring on it.
package keyringtest

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// Start starts a private D-Bus session bus and a GNOME Keyring
// daemon serving the Secret Service on it, its login keyring created and
// unlocked with a test password, all under a temporary HOME; it points
// $DBUS_SESSION_BUS_ADDRESS at the bus (so the test cannot be parallel)
// and returns the directory the daemon keeps its keyrings in. Both
// processes are stopped when the test ends. It skips the test only when
// the binaries are not installed (scripts/install-deps.sh installs them).
func Start(t *testing.T) string {
	t.Helper()
	for _, bin := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (scripts/install-deps.sh installs dbus-daemon and gnome-keyring): %v", bin, err)
		}
	}
	home := t.TempDir()
	run := filepath.Join(home, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	// A bus of its own config: no service activation, so nothing but the
	// daemon below can answer as the Secret Service, however early asked.
	conf := filepath.Join(home, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+filepath.Join(run, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bus := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--print-address")
	bus.Env = append(os.Environ(), "HOME="+home)
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var busErr bytes.Buffer
	bus.Stderr = &busErr
	if err := bus.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() { bus.Process.Kill(); bus.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading dbus-daemon's address: %v\n%s", err, busErr.String())
	}
	addr = strings.TrimSpace(addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)

	data := filepath.Join(home, "data")
	gk := exec.Command("gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	gk.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+data, "XDG_RUNTIME_DIR="+run,
		"DBUS_SESSION_BUS_ADDRESS="+addr)
	gk.Stdin = strings.NewReader("test password") // --unlock reads it to EOF, creating the login keyring
	var gkErr bytes.Buffer
	gk.Stdout, gk.Stderr = &gkErr, &gkErr
	if err := gk.Start(); err != nil {
		t.Fatalf("starting gnome-keyring-daemon: %v", err)
	}
	t.Cleanup(func() { gk.Process.Kill(); gk.Wait() })
	// Ready once the Secret Service answers on the bus.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := keyring.Get("tfgate", "readiness probe")
		if errors.Is(err, keyring.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Secret Service did not answer: %v\ngnome-keyring-daemon said:\n%s", err, gkErr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return filepath.Join(data, "keyrings")
}
