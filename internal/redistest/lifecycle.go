package redistest

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// logTailLines is how much of redis.log a failure message carries.
const logTailLines = 30

// Client returns a client for this server, created on first use and closed
// when the test ends. It has ContextTimeoutEnabled set, so context deadlines
// bound its calls, as tfgate's session store requires.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	}
	return s.client
}

// Stop shuts the server down with SIGTERM and waits for it to exit, killing
// it if it takes longer than a few seconds. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	p := s.running()
	if p == nil {
		return
	}
	s.signal(p, syscall.SIGCONT) // a paused server would hold SIGTERM pending
	s.signal(p, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		s.signal(p, syscall.SIGKILL)
		<-p.done
	}
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.tb.Helper()
	if p := s.running(); p != nil {
		s.signal(p, syscall.SIGKILL)
		<-p.done
	}
}

// Restart stops the server if it is running and starts it again on the same
// address, with the same configuration and directory. Data does not survive;
// a cluster node's identity and slots do (nodes.conf).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	if err := s.launch(lookPath(s.tb)); err != nil {
		s.fatalf("redistest: restarting redis-server on %s: %v", s.Addr, err)
	}
}

// Pause freezes the server with SIGSTOP: connections stay open but nothing
// answers, which is how a hung or partitioned Redis looks to a client.
func (s *Server) Pause() {
	s.tb.Helper()
	if p := s.running(); p != nil {
		s.signal(p, syscall.SIGSTOP)
		s.mu.Lock()
		s.paused = true
		s.mu.Unlock()
	}
}

// Resume undoes Pause.
func (s *Server) Resume() {
	s.tb.Helper()
	if p := s.running(); p != nil {
		s.signal(p, syscall.SIGCONT)
		s.mu.Lock()
		s.paused = false
		s.mu.Unlock()
	}
}

// running returns the live process, or nil when the server is not running.
func (s *Server) running() *process {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
		return p
	}
}

func (s *Server) signal(p *process, sig syscall.Signal) {
	// The process may exit between our check and the signal; that error is
	// expected and harmless.
	_ = p.cmd.Process.Signal(sig)
}

// cleanup runs at the end of the test: close the client, kill the server.
// Killing is enough because nothing is persisted.
func (s *Server) cleanup() {
	s.mu.Lock()
	c := s.client
	s.client = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	if p := s.running(); p != nil {
		s.signal(p, syscall.SIGKILL)
		<-p.done
	}
}

func (s *Server) logPath() string { return filepath.Join(s.Dir, "redis.log") }

// logTail returns the last lines of redis.log.
func (s *Server) logTail() []byte {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return []byte("(no log: " + err.Error() + ")")
	}
	b = bytes.TrimRight(b, "\n")
	for i, n := len(b)-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			if n++; n == logTailLines {
				return b[i+1:]
			}
		}
	}
	return b
}

// fatalf fails the test with the message followed by the server's log tail.
func (s *Server) fatalf(format string, args ...any) {
	s.tb.Helper()
	args = append(args, s.logPath(), s.logTail())
	s.tb.Fatalf(format+"\n--- tail of %s ---\n%s", args...)
}
