// Command go-grpc calls TF Serving's Predict through tfgate from Go. The
// only change from a plain TF Serving client is one dial option,
// grpc.WithPerRPCCredentials, which adds "authorization: Bearer <token>"
// to every RPC with a token from `extauthz token` (renewed when needed).
//
//	go run ./examples/go-grpc -addr serving.example.com:8500 -server https://serving.example.com
//	go run ./examples/go-grpc -plaintext   # against `extauthz dev` on loopback
//
// Real clients call their generated stubs on the same connection,
// pb.NewPredictionServiceClient(conn).Predict(ctx, req); tfgate ships no
// generated TF Serving code, so this example sends the same bytes with
// the hand-encoded messages of internal/tfpb.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tfgate/tfgate/internal/tfpb"
)

// extauthzToken is grpc-go per-RPC credentials that run `extauthz token`.
// It prints a token valid for at least another minute, so one is reused
// for tokenReuse before asking again.
type extauthzToken struct {
	command   []string
	plaintext bool

	mu      sync.Mutex
	token   string
	fetched time.Time
}

const tokenReuse = 30 * time.Second

// GetRequestMetadata returns the authorization header for one RPC.
func (c *extauthzToken) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

// get returns the last token, or runs `extauthz token` for a new one.
func (c *extauthzToken) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Since(c.fetched) < tokenReuse {
		return c.token, nil
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.command[0], c.command[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v: %s", strings.Join(c.command, " "), err, strings.TrimSpace(stderr.String()))
	}
	c.token, c.fetched = strings.TrimSpace(stdout.String()), time.Now()
	return c.token, nil
}

// RequireTransportSecurity keeps the token off unencrypted connections,
// except with -plaintext (for `extauthz dev` on loopback).
func (c *extauthzToken) RequireTransportSecurity() bool { return !c.plaintext }

func main() {
	addr := flag.String("addr", "127.0.0.1:8500", "TF Serving's gRPC address (Envoy in front of it)")
	server := flag.String("server", "", "tfgate's URL, as given to `extauthz login` (default: the only one signed in to)")
	extauthz := flag.String("extauthz", "extauthz", "the extauthz command")
	plaintext := flag.Bool("plaintext", false, "no TLS: only for a server on loopback, such as `extauthz dev`")
	model := flag.String("model", "half_plus_two", "the model to call")
	flag.Parse()
	if err := predict(*addr, *server, *extauthz, *model, *plaintext); err != nil {
		fmt.Fprintln(os.Stderr, "go-grpc:", err)
		os.Exit(1)
	}
}

func predict(addr, server, extauthz, model string, plaintext bool) error {
	token := &extauthzToken{command: []string{extauthz, "token"}, plaintext: plaintext}
	if server != "" {
		token.command = append(token.command, "--server", server)
	}
	transport := credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	if plaintext {
		transport = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(transport), grpc.WithPerRPCCredentials(token))
	if err != nil {
		return err
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := tfpb.PredictRequest(tfpb.ModelSpec{Name: model}, map[string][]float32{"x": {1, 2, 5}})
	var resp []byte
	if err := conn.Invoke(ctx, tfpb.MethodPredict, req, &resp, grpc.ForceCodecV2(tfpb.Codec{})); err != nil {
		return err
	}
	out, err := tfpb.PredictResponseFloats(resp)
	if err != nil {
		return err
	}
	fmt.Println("y =", out["y"])
	return nil
}
