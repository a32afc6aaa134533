package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// redisStartTimeout bounds how long redis-server may take to answer.
	redisStartTimeout = 10 * time.Second
	// redisProbeTimeout bounds one readiness probe.
	redisProbeTimeout = 500 * time.Millisecond
	// redisBindAttempts is how often StartRedis picks another port when
	// another process took the one it chose.
	redisBindAttempts = 5
)

// RedisServer is a redis-server process on a loopback port, with no
// persistence, in a temporary directory of its own.
type RedisServer struct {
	// Addr is the "127.0.0.1:port" the server listens on.
	Addr string

	dir  string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	once sync.Once
}

// StartRedis starts redis-server on a free 127.0.0.1 port with --save ""
// and --appendonly no, and returns once that process answers. It returns
// ErrNoRedisServer when redis-server is not installed. Close kills it.
func StartRedis() (*RedisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("%w (install it with `apt-get install -y redis-server`)", ErrNoRedisServer)
	}
	dir, err := os.MkdirTemp("", "tfgate-bench-redis-")
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	for attempt := 1; ; attempt++ {
		r, err := launchRedis(bin, dir)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, errAddrInUse) || attempt == redisBindAttempts {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

var errAddrInUse = errors.New("address already in use")

func launchRedis(bin, dir string) (*RedisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &RedisServer{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:  dir, out: &lockedBuffer{}, done: make(chan struct{}),
	}
	r.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--logfile", "")
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = sysProcAttr()
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: starting redis-server: %w", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.done)
	}()
	if err := r.waitReady(); err != nil {
		r.kill()
		return nil, err
	}
	return r, nil
}

// waitReady polls until redis-server answers with its own process id (not
// another server that won the race to the port), exits, or times out.
func (r *RedisServer) waitReady() error {
	deadline := time.Now().Add(redisStartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			if strings.Contains(strings.ToLower(r.out.String()), "address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("loadgen: redis-server exited at start: %v\n%s", r.cmd.ProcessState, r.out.String())
		default:
		}
		if pid, err := redisPID(r.Addr); err == nil && pid == r.cmd.Process.Pid {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("loadgen: redis-server on %s did not answer within %v", r.Addr, redisStartTimeout)
}

// Close kills the server and removes its directory. Nothing is persisted,
// so there is nothing to shut down gracefully.
func (r *RedisServer) Close() {
	r.once.Do(func() {
		r.kill()
		os.RemoveAll(r.dir)
	})
}

func (r *RedisServer) kill() {
	_ = r.cmd.Process.Kill() // fails only when it has exited already
	<-r.done
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("loadgen: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redisPID sends PING and INFO server over a raw connection and returns the
// process_id the server reports. Speaking RESP directly keeps the probe
// free of a client library's retries and logging.
func redisPID(addr string) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, redisProbeTimeout)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(redisProbeTimeout)); err != nil {
		return 0, err
	}
	if _, err := io.WriteString(conn, "PING\r\nINFO server\r\n"); err != nil {
		return 0, err
	}
	br := bufio.NewReader(conn)
	pong, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if pong != "+PONG\r\n" {
		return 0, fmt.Errorf("PING answered %q", strings.TrimSpace(pong))
	}
	header, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(header, "$")))
	if !strings.HasPrefix(header, "$") || err != nil || n < 0 {
		return 0, fmt.Errorf("INFO answered %q", strings.TrimSpace(header))
	}
	info := make([]byte, n)
	if _, err := io.ReadFull(br, info); err != nil {
		return 0, err
	}
	for line := range bytes.Lines(info) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("process_id:")); ok {
			return strconv.Atoi(string(v))
		}
	}
	return 0, errors.New("INFO server has no process_id")
}

// lockedBuffer collects redis-server's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // enough to explain a failure; keep memory bounded
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
