// Command tfgate-soak runs `extauthz serve` with the Redis session store
// on loopback under bounded mixed traffic (allowed, denied and anonymous
// Checks, anonymous /saml/login floods, refresh-token rotations, new token
// grants, slow HTTP clients) and reports the server's RSS, goroutines and
// Redis keys (in all, and by kind: the key prefix after "tfgate:") at the
// start, every -sample and at the end, so one can see whether they stay
// flat. At the end it lists the failed Checks counted by their error, and
// the slowest Check. It exits non-zero when any Check failed.
//
// Usage:
//
//	tfgate-soak [-duration 10m] [-sample 1m] [-extauthz PATH] [-debug-dir DIR]
//
// Without -extauthz it builds ./cmd/extauthz first. It starts its own
// redis-server and development IdP; every address is 127.0.0.1. With
// -debug-dir the server gets a loopback pprof listener, and at the end the
// soak writes DIR/goroutines.txt (every goroutine's stack) and
// DIR/heap.pprof (after a GC; `go tool pprof -sample_index=inuse_space
// bin/extauthz DIR/heap.pprof`); the server's log, after its start, goes
// to DIR/extauthz.log.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "tfgate-soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tfgate-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 10*time.Minute, "how long to drive traffic (bounded)")
	sample := fs.Duration("sample", time.Minute, "how often to print RSS, goroutines and Redis keys")
	bin := fs.String("extauthz", "", "extauthz binary (default: go build ./cmd/extauthz)")
	debugDir := fs.String("debug-dir", "", "write a goroutine dump and a heap profile of the server here at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *debugDir != "" {
		if err := os.MkdirAll(*debugDir, 0o755); err != nil {
			return err
		}
	}
	if *duration <= 0 || *duration > 24*time.Hour || *sample <= 0 {
		return errors.New("-duration must be in (0, 24h], -sample positive")
	}
	dir, err := os.MkdirTemp("", "tfgate-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "extauthz")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", *bin, "./cmd/extauthz").CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build ./cmd/extauthz (run from the repository root, or pass -extauthz): %v\n%s", err, out)
		}
	}

	rs, err := loadgen.StartRedis()
	if err != nil {
		return err
	}
	defer rs.Close()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()

	s, err := startStack(ctx, dir, *bin, rs.Addr, *debugDir, stderr)
	if err != nil {
		return err
	}
	defer s.stop()

	fmt.Fprintf(stdout, "tfgate-soak: extauthz pid %d, HTTP %s, gRPC %s, redis %s; traffic for %v\n", s.cmd.Process.Pid, s.base, s.grpcAddr, rs.Addr, *duration)
	start, err := s.measure(ctx, rdb)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-8s %s\n%-8s keys by kind: %s\n", "start", start, "", start.kinds)

	var c counters
	tctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var wg sync.WaitGroup
	s.traffic(tctx, &wg, &c)
	t0 := time.Now()
	tick := time.NewTicker(*sample)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tctx.Done():
			break loop
		case <-tick.C:
			m, err := s.measure(ctx, rdb)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-8s %s  %s\n%-8s keys by kind: %s\n", time.Since(t0).Round(time.Second), m, c.String(), "", m.kinds)
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	sleep(ctx, 2*time.Second) // let the server notice the clients that left
	end, err := s.measure(ctx, rdb)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-8s %s  %s\n%-8s keys by kind: %s\n", "end", end, c.String(), "", end.kinds)
	fmt.Fprintf(stdout, "change   rss %+.1f MB, goroutines %+d, redis keys %+d\n",
		float64(end.rss-start.rss)/1e6, end.goroutines-start.goroutines, end.keys-start.keys)
	c.report(stdout)
	if *debugDir != "" {
		if err := s.dumpDebug(ctx, *debugDir); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "debug    goroutine dump and heap profile in %s\n", *debugDir)
	}
	if n := c.wrong.Load(); n > 0 {
		return fmt.Errorf("%d Checks failed", n)
	}
	return nil
}

// dumpDebug writes the server's goroutines (text, every stack) and heap
// profile (after a GC) from its pprof listener into dir.
func (s *stack) dumpDebug(ctx context.Context, dir string) error {
	for _, f := range []struct{ path, file string }{
		{"/debug/pprof/goroutine?debug=2", "goroutines.txt"},
		{"/debug/pprof/heap?gc=1", "heap.pprof"},
	} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.pprofAddr+f.path, nil)
		resp, err := s.http.Do(req)
		if err != nil {
			return fmt.Errorf("fetching %s: %w", f.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if err != nil {
			return fmt.Errorf("fetching %s: %w", f.path, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.file), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// stack is the running extauthz and what talks to it.
type stack struct {
	cmd       *exec.Cmd
	base      string // http://127.0.0.1:port of the HTTP listener
	grpcAddr  string
	pprofAddr string // with -debug-dir
	idp       *devidp.IdP
	checks    authv3.AuthorizationClient
	conn      *grpc.ClientConn
	allow     string // alice's access token
	deny      string // dave's access token
	refresh   string // alice's refresh token
	http      *http.Client
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startStack(ctx context.Context, dir, bin, redisAddr, debugDir string, stderr io.Writer) (*stack, error) {
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	pprofAddr, debugYAML := "", ""
	if debugDir != "" {
		if pprofAddr, err = freePort(); err != nil {
			return nil, err
		}
		debugYAML = fmt.Sprintf("debug:\n  pprof_listen: %s\n", pprofAddr)
	}
	base := "http://" + httpAddr
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	idp, err := devidp.New(devidp.Config{
		BaseURL: "http://" + idpLn.Addr().String(),
		SPs:     []devidp.SP{{EntityID: base + "/saml/metadata", ACSURLs: []string{base + "/saml/acs", base + "/token"}}},
	})
	if err != nil {
		idpLn.Close()
		return nil, err
	}
	go idp.Serve(ctx, idpLn)
	md, err := idp.Metadata()
	if err != nil {
		return nil, err
	}
	mdFile, cfgFile := filepath.Join(dir, "idp.xml"), filepath.Join(dir, "extauthz.yaml")
	if err := os.WriteFile(mdFile, md, 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`listen:
  grpc: 127.0.0.1:0
  http: %s
  shutdown_timeout: 2s
decision_log:
  path: "off"
log:
  level: info
sessions:
  store: redis
  cookie_name: tfgate
  redis:
    addrs: [%q]
saml:
  base_url: %s
  idps:
    - name: dev
      metadata_file: %s
%s`, httpAddr, redisAddr, base, mdFile, debugYAML)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfgFile)
	logs, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &stack{cmd: cmd, base: base, pprofAddr: pprofAddr, idp: idp, http: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	lines := bufio.NewScanner(logs)
	for lines.Scan() {
		var l struct{ Msg, GRPC string }
		if json.Unmarshal(lines.Bytes(), &l) == nil && l.Msg == "extauthz started" {
			s.grpcAddr = l.GRPC
			break
		}
		fmt.Fprintln(stderr, lines.Text())
	}
	serverLog := io.Discard
	if debugDir != "" {
		f, err := os.Create(filepath.Join(debugDir, "extauthz.log"))
		if err != nil {
			s.stop()
			return nil, err
		}
		serverLog = f // closed at exit
	}
	go io.Copy(serverLog, logs)
	if s.grpcAddr == "" {
		s.stop()
		return nil, errors.New("extauthz did not start")
	}
	if s.conn, err = grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		s.stop()
		return nil, err
	}
	s.checks = authv3.NewAuthorizationClient(s.conn)
	users := devidp.DefaultUsers()
	// The allowed Checks use one of alice's grants and the rotations
	// another: a rotation discards the access token of two rotations
	// back, so the checkers must not hold the rotated grant's token.
	alice, err := s.grant(ctx, users[0])
	if err == nil {
		var dave, rotated tokenResponse
		if dave, err = s.grant(ctx, users[3]); err == nil {
			rotated, err = s.grant(ctx, users[0])
		}
		s.allow, s.refresh, s.deny = alice.AccessToken, rotated.RefreshToken, dave.AccessToken
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *stack) stop() {
	if s.conn != nil {
		s.conn.Close()
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

func (s *stack) postToken(ctx context.Context, form url.Values) (tokenResponse, int, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", s.base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.http.Do(req)
	if err != nil {
		return tokenResponse{}, 0, err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tr)
	return tr, resp.StatusCode, err
}

// postRevoke revokes a refresh token (RFC 7009), which ends its grant.
func (s *stack) postRevoke(ctx context.Context, token string) (int, string, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}
	req, _ := http.NewRequestWithContext(ctx, "POST", s.base+"/token/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// grant signs user in with an RFC 7522 assertion.
func (s *stack) grant(ctx context.Context, user devidp.User) (tokenResponse, error) {
	_, assertion, err := s.idp.NewAssertion(devidp.ResponseOptions{User: user, ACSURL: s.base + "/token"})
	if err != nil {
		return tokenResponse{}, err
	}
	tr, code, err := s.postToken(ctx, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:saml2-bearer"}, "assertion": {assertion}})
	if err == nil && code != 200 {
		err = fmt.Errorf("token grant for %s: HTTP %d %s", user.ID, code, tr.Error)
	}
	return tr, err
}

type counters struct {
	allow, deny, anon, logins, rotations, rotationErrs, grants, slow atomic.Int64
	revokeErrs                                                       atomic.Int64 // sign-outs that failed: their tokens stay
	wrong                                                            atomic.Int64 // failed Checks

	mu       sync.Mutex
	failures map[string]*failures // failed Checks by kind (failureKind)
	slowest  time.Duration
	slowWhat string
}

func (c *counters) String() string {
	return fmt.Sprintf("checks allow %d deny %d anon %d failed %d | logins %d | rotations %d (refused %d) | grants %d (sign-out failed %d) | slow conns %d",
		c.allow.Load(), c.deny.Load(), c.anon.Load(), c.wrong.Load(), c.logins.Load(),
		c.rotations.Load(), c.rotationErrs.Load(), c.grants.Load(), c.revokeErrs.Load(), c.slow.Load())
}

// failures are the failed Checks of one kind.
type failures struct {
	n           int64
	first, last time.Time
}

// fail counts a failed Check, sent at t, under its kind.
func (c *counters) fail(kind string, t time.Time) {
	c.wrong.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == nil {
		c.failures = map[string]*failures{}
	}
	f := c.failures[kind]
	if f == nil {
		f = &failures{first: t}
		c.failures[kind] = f
	}
	f.n++
	f.last = t
}

// took notes a Check's latency, keeping the slowest.
func (c *counters) took(d time.Duration, what string) {
	c.mu.Lock()
	if d > c.slowest {
		c.slowest, c.slowWhat = d, what
	}
	c.mu.Unlock()
}

// report prints the slowest Check and the failed ones by kind, most
// frequent first.
func (c *counters) report(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(w, "slowest  Check %v (%s)\n", c.slowest.Round(time.Microsecond), c.slowWhat)
	if len(c.failures) == 0 {
		fmt.Fprintln(w, "failed   no Check failed")
		return
	}
	kinds := make([]string, 0, len(c.failures))
	for k := range c.failures {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if a, b := c.failures[kinds[i]].n, c.failures[kinds[j]].n; a != b {
			return a > b
		}
		return kinds[i] < kinds[j]
	})
	fmt.Fprintf(w, "failed   %d Checks, by kind:\n", c.wrong.Load())
	for _, k := range kinds {
		f := c.failures[k]
		fmt.Fprintf(w, "%10d  %s (sent %s to %s UTC)\n", f.n, k, f.first.UTC().Format("15:04:05.000"), f.last.UTC().Format("15:04:05.000"))
	}
}

// failureKind names why a Check failed, with the digits of its message
// masked so that failures differing only in a port, a duration or a
// handle count as one kind.
func failureKind(want codes.Code, resp *authv3.CheckResponse, err error) string {
	var what string
	if err != nil {
		st := status.Convert(err)
		what = "gRPC error " + st.Code().String() + ": " + st.Message()
	} else {
		what = "answered " + codes.Code(resp.GetStatus().GetCode()).String()
		if m := resp.GetStatus().GetMessage(); m != "" {
			what += ": " + m
		}
		if b := resp.GetDeniedResponse().GetBody(); b != "" {
			what += " body " + b
		}
	}
	what = digits.ReplaceAllString(what, "N")
	if len(what) > 200 {
		what = what[:200] + "..."
	}
	return "want " + want.String() + ", " + what
}

var digits = regexp.MustCompile(`[0-9]+`)

// traffic starts every kind of client; each stops when ctx is done.
func (s *stack) traffic(ctx context.Context, wg *sync.WaitGroup, c *counters) {
	check := func(token string, want codes.Code, n *atomic.Int64) {
		h := map[string]string{"accept": "application/json"}
		if token != "" {
			h["authorization"] = "Bearer " + token
		}
		req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
			Http: &authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/v1/models/half_plus_two:predict", Headers: h},
		}}}
		for !over(ctx) {
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			t := time.Now()
			resp, err := s.checks.Check(cctx, req)
			d := time.Since(t)
			cancel()
			if over(ctx) {
				return
			}
			c.took(d, fmt.Sprintf("want %v, at %s", want, t.UTC().Format("15:04:05.000")))
			if got := codes.Code(resp.GetStatus().GetCode()); err != nil || got != want {
				c.fail(failureKind(want, resp, err), t)
				continue
			}
			n.Add(1)
		}
	}
	wg.Go(func() { check(s.allow, codes.OK, &c.allow) })
	wg.Go(func() { check(s.allow, codes.OK, &c.allow) })
	wg.Go(func() { check(s.deny, codes.PermissionDenied, &c.deny) })
	wg.Go(func() { check("", codes.Unauthenticated, &c.anon) })
	for range 2 { // anonymous /saml/login flood
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/saml/login?return_to=%2Fv1%2Fmodels%2Fhalf_plus_two", nil)
				if resp, err := s.http.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					c.logins.Add(1)
				}
			}
		})
	}
	wg.Go(func() { // refresh rotations of one grant, as fast as allowed
		refresh := s.refresh
		for ctx.Err() == nil {
			tr, code, err := s.postToken(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
			switch {
			case err == nil && code == 200 && tr.RefreshToken != "":
				refresh = tr.RefreshToken
				c.rotations.Add(1)
			case ctx.Err() == nil:
				c.rotationErrs.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
		}
	})
	wg.Go(func() { // a new sign-in (token grant) every 100ms, alternating users, each signed out again
		// A sign-in's sessions rightly live until they expire (hours), so
		// grants left alone would grow Redis by design; a CLI that signs out
		// revokes them, which is what a flat key count can be asked of.
		users := devidp.DefaultUsers()
		for i := 0; ctx.Err() == nil; i++ {
			if tr, err := s.grant(ctx, users[i%len(users)]); err == nil {
				c.grants.Add(1)
				// A failed sign-out leaves the grant's two sessions (s:, h:)
				// to expire in an hour; counted so that keys are explained.
				if code, _, err := s.postRevoke(ctx, tr.RefreshToken); (err != nil || code != 200) && ctx.Err() == nil {
					c.revokeErrs.Add(1)
				}
			}
			sleep(ctx, 100*time.Millisecond)
		}
	})
	wg.Go(func() { // slow clients: 50 at a time, each trickling a body
		addr := strings.TrimPrefix(s.base, "http://")
		var inner sync.WaitGroup
		for range 50 {
			inner.Go(func() {
				for ctx.Err() == nil {
					conn, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						sleep(ctx, 100*time.Millisecond)
						continue
					}
					c.slow.Add(1)
					fmt.Fprintf(conn, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n")
					for ctx.Err() == nil {
						if _, err := conn.Write([]byte("a")); err != nil {
							break // the server cut it off
						}
						sleep(ctx, time.Second)
					}
					conn.Close()
				}
			})
		}
		inner.Wait()
	})
}

// over reports whether the traffic's ctx is done or past its deadline. The
// deadline is checked by the clock: a Check's context inherits it and gRPC
// fails a call whose deadline has passed at once, before ctx's own timer
// has fired, so a loop testing only ctx.Err() spun through a few hundred
// spurious DeadlineExceeded "failures" in its last milliseconds.
func over(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// sample is one measurement of the server.
type sample struct {
	rss        int64
	goroutines int
	keys       int64
	kinds      keyKinds
	load       string // the machine's 1-minute load average
}

// keyKinds counts Redis keys by kind: the part of the key after the
// "tfgate:" prefix up to the next ':' (s, h, u, g, f, fx, req, replay...).
type keyKinds map[string]int64

func (k keyKinds) String() string {
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", n, k[n])
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// countKinds scans every key (the soak's Redis holds only tfgate's).
func countKinds(ctx context.Context, rdb *redis.Client) (keyKinds, error) {
	kinds := keyKinds{}
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		rest, ok := strings.CutPrefix(iter.Val(), "tfgate:")
		if !ok {
			kinds["(other)"]++
			continue
		}
		kind, _, _ := strings.Cut(rest, ":")
		kinds[kind]++
	}
	return kinds, iter.Err()
}

func (m sample) String() string {
	return fmt.Sprintf("rss %6.1f MB  goroutines %5d  redis keys %7d  load %s", float64(m.rss)/1e6, m.goroutines, m.keys, m.load)
}

func (s *stack) measure(ctx context.Context, rdb *redis.Client) (sample, error) {
	var m sample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return m, fmt.Errorf("reading the server's RSS (Linux /proc): %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			m.rss = kb * 1024
		}
	}
	m.load = "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.load, _, _ = strings.Cut(string(b), " ")
	}
	resp, err := s.http.Get(s.base + "/metrics")
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			m.goroutines = int(f)
		}
	}
	if m.keys, err = rdb.DBSize(ctx).Result(); err != nil {
		return m, err
	}
	m.kinds, err = countKinds(ctx, rdb)
	return m, err
}
