package pysaml2idp

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

const (
	// startTimeout bounds Python's start and pysaml2's import.
	startTimeout = 30 * time.Second
	// callTimeout bounds one response (pysaml2 runs xmlsec1 per signature).
	callTimeout = 20 * time.Second
	// stopTimeout is how long the script gets to exit after stdin closes.
	stopTimeout = 5 * time.Second
	// logTail is how much of the script's stderr errors quote.
	logTail = 2000
)

// request and reply are the script's JSON-lines protocol (see idp.py).
type (
	request struct {
		Op    string            `json:"op"`
		Query map[string]string `json:"query,omitempty"`
		User  jsonUser          `json:"user"`
		Opts  map[string]any    `json:"opts,omitempty"`
	}
	jsonUser struct {
		ID     string   `json:"id"`
		Name   string   `json:"name,omitempty"`
		Email  string   `json:"email,omitempty"`
		Groups []string `json:"groups,omitempty"`
	}
	reply struct {
		OK           bool   `json:"ok"`
		Error        string `json:"error"`
		Metadata     string `json:"metadata"`
		SAMLResponse string `json:"saml_response"`
		Destination  string `json:"destination"`
		InResponseTo string `json:"in_response_to"`
		SPEntityID   string `json:"sp_entity_id"`
		Assertion    string `json:"assertion"`
		SAMLRequest  string `json:"saml_request"`
		ID           string `json:"id"`
		Status       string `json:"status"`
	}
)

// process is the running script: requests go to stdin, one reply line per
// request comes back on stdout, and stderr goes to python.log.
type process struct {
	mu      sync.Mutex // one call at a time
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan []byte
	done    chan struct{} // closed when the process has exited
	logPath string
}

func startProcess(dir string) (*process, error) {
	p := &process{lines: make(chan []byte), done: make(chan struct{}), logPath: filepath.Join(dir, "python.log")}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(pythonPath, filepath.Join(dir, "idp.py"), filepath.Join(dir, "config.json"))
	p.cmd.Dir = dir
	p.cmd.Stderr = logFile
	// Keep Python from writing .pyc files next to the script.
	p.cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		logFile.Close()
		return nil, err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go p.read(stdout, logFile)
	return p, nil
}

// read forwards stdout lines until the process exits.
func (p *process) read(stdout io.Reader, logFile *os.File) {
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && err == nil {
			select {
			case p.lines <- line:
			case <-p.done:
			}
		}
		if err != nil {
			break
		}
	}
	_ = p.cmd.Wait()
	logFile.Close()
	close(p.done)
}

// first returns the script's start-up reply, which carries the metadata.
func (p *process) first() (reply, error) {
	r, err := p.receive(startTimeout)
	if err == nil && !r.OK {
		err = fmt.Errorf("%w: %s%s", ErrProcess, r.Error, p.tail())
	}
	return r, err
}

// call sends req and waits for its reply.
func (p *process) call(req request) (reply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := json.Marshal(req)
	if err != nil {
		return reply{}, err
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return reply{}, fmt.Errorf("%w: writing request: %v%s", ErrProcess, err, p.tail())
	}
	return p.receive(callTimeout)
}

func (p *process) receive(timeout time.Duration) (reply, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var r reply
	select {
	case line := <-p.lines:
		if err := json.Unmarshal(line, &r); err != nil {
			return r, fmt.Errorf("%w: unreadable reply: %v%s", ErrProcess, err, p.tail())
		}
		return r, nil
	case <-p.done:
		return r, fmt.Errorf("%w: python exited (%v)%s", ErrProcess, p.cmd.ProcessState, p.tail())
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		return r, fmt.Errorf("%w: no reply within %v; killed%s", ErrProcess, timeout, p.tail())
	}
}

// stop closes stdin, which ends the script, and kills it if it lingers.
func (p *process) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the end of the script's stderr, for error messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	return "\npython.log:\n" + string(b)
}
