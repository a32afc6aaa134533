package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// startTimeout bounds how long a server may take to answer after exec.
	startTimeout = 10 * time.Second
	// stopTimeout bounds a graceful shutdown before the server is killed.
	stopTimeout = 5 * time.Second
	// bindAttempts is how often Start picks a new port when another process
	// took the one it chose between probing and binding.
	bindAttempts = 5
)

// Server is one redis-server process listening on 127.0.0.1.
type Server struct {
	// Addr is the server's "127.0.0.1:port" address. It stays the same
	// across Stop, Kill and Restart.
	Addr string
	// Dir is the server's working directory; it holds redis.conf and
	// redis.log (and nodes.conf for a cluster node).
	Dir string

	tb     testing.TB
	config []string
	args   []string // extra command-line arguments ("--sentinel")

	mu     sync.Mutex
	proc   *process
	paused bool
	client *redis.Client
}

// process is one run of redis-server; done is closed when it has exited.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// Start starts a standalone redis-server on a free loopback port and returns
// once it answers. extraConfig lines ("maxmemory 10mb") are appended to its
// redis.conf; FreePort finds a port for a line such as "tls-port N". The
// server is killed when the test ends.
func Start(tb testing.TB, extraConfig ...string) *Server {
	tb.Helper()
	return startServer(tb, tb.TempDir(), extraConfig)
}

func startServer(tb testing.TB, dir string, extraConfig []string, args ...string) *Server {
	tb.Helper()
	bin := lookPath(tb)
	s := &Server{Dir: dir, tb: tb, config: extraConfig, args: args}
	tb.Cleanup(s.cleanup)
	for attempt := 1; ; attempt++ {
		port := freePort(tb)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err := s.launch(bin)
		if err == nil {
			return s
		}
		if !errors.Is(err, errAddrInUse) || attempt == bindAttempts {
			s.fatalf("redistest: starting redis-server on %s: %v", s.Addr, err)
		}
	}
}

// lookPath finds redis-server or fails the test with the install command.
func lookPath(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server not found: install it with `apt-get install -y redis-server redis-tools` (%v)", err)
	}
	return bin
}

// FreePort returns a loopback port that is free now, for a second listener
// in extraConfig ("tls-port N"). Another process may take it first; the
// start then fails with the server's log.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return freePort(tb)
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; startServer retries when that
// happens.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// launch writes redis.conf, starts redis-server and waits until this very
// process (not another one that raced us to the port) answers.
func (s *Server) launch(bin string) error {
	conf := filepath.Join(s.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(s.configText()), 0o600); err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, append([]string{conf}, s.args...)...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	p := &process{cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc, s.paused = p, false
	s.mu.Unlock()
	return s.waitReady(p)
}

func (s *Server) configText() string {
	_, port, _ := net.SplitHostPort(s.Addr)
	lines := []string{
		"port " + port,
		"bind 127.0.0.1",
		"protected-mode yes",
		`save ""`,
		"appendonly no",
		"daemonize no",
		`logfile ""`,
		"dir " + s.Dir,
	}
	return strings.Join(append(lines, s.config...), "\n") + "\n"
}

var errAddrInUse = errors.New("address already in use")

// waitReady polls INFO until the server reports our child's process id, or
// fails when the child exits or startTimeout passes.
func (s *Server) waitReady(p *process) error {
	deadline := time.Now().Add(startTimeout)
	want := p.cmd.Process.Pid
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			if bytes.Contains(bytes.ToLower(s.logTail()), []byte("address already in use")) {
				return errAddrInUse
			}
			return fmt.Errorf("redis-server exited: %v", p.cmd.ProcessState)
		default:
		}
		if pid, err := probe(s.Addr); err == nil && pid == want {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.signal(p, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("no answer within %v", startTimeout)
}
