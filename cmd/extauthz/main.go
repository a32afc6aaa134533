// Command extauthz is tfgate: an Envoy ext_authz server that puts SAML
// single sign-on and Rego policy in front of TensorFlow Serving.
//
// Run "extauthz --help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `extauthz: SAML single sign-on and Rego policy for TensorFlow Serving, as an Envoy ext_authz server.

Usage:
  extauthz [serve] [--config FILE]            run the server (no config: embedded defaults)
  extauthz dev                                the whole stack on loopback for trying tfgate out: tfgate, a development
                                              IdP, a development proxy on 8501/8500 and a TF Serving stand-in
  extauthz dev-idp [--listen ADDR] [...]      the development IdP alone (see --help)
  extauthz config check FILE                  validate a config file, printing every problem with its line
  extauthz policy test [DIR] [-v] [--run RE] [--coverage] [--threshold PCT] [--format json]
                                              run the Rego unit tests of a policy directory (default: the embedded policy)
  extauthz policy eval --input FILE [--policy DIR|BUNDLE] [--fail]
                                              evaluate a policy on one input document or decision-log line
  extauthz policy build [DIR] -o bundle.tar.gz [--signing-key K --signing-alg ES256 --key-id ID] [--revision R]
                                              write a policy directory as an (optionally signed) OPA bundle
  extauthz policy replay --log decisions.jsonl --policy DIR|BUNDLE [--allow-loosening]
                                              re-decide recorded traffic with a changed policy; exit 1 when a deny
                                              would become an allow
  extauthz audit verify [--key PUB.pem] FILE...
                                              check a chained decision log (all rotated files): names the first
                                              modified, deleted, inserted or reordered line, cut or missing file
  extauthz sessions list --user U [--json]    list a user's sessions (handle, expiry) in Redis
  extauthz sessions revoke --user U | --group G | --session HANDLE
                                              revoke sessions at once on every replica
  extauthz sessions stats [--json]            count what the session store holds
                                              (sessions commands take the servers' --config FILE)
  extauthz login --server URL [--no-browser] [--scope S]
                                              sign in through the browser and store a token for programs
  extauthz token [--server URL] [--scope S]   print a valid access token (renewed when needed), e.g.
                                              curl -H "Authorization: Bearer $(extauthz token)" ...
  extauthz logout [--server URL]              revoke and forget the stored tokens
  extauthz version                            print the version

With no config file extauthz listens on :9191 (ext_authz gRPC) and :8080 (HTTP:
/healthz, /readyz, /metrics), keeps sessions in memory and uses the embedded
default policy. extauthz.example.yaml documents every setting and its default.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks errors that should be followed by the usage text.
var errUsage = errors.New("usage")

// run dispatches a command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "extauthz: %v\n\n%s", err, usage)
		return 2
	case errors.Is(err, errFailed):
		return 1 // the command already said why
	}
	fmt.Fprintf(stderr, "extauthz: %v\n", err)
	return 1
}

var (
	errHelp   = errors.New("help requested")
	errFailed = errors.New("failed")
)

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return serveCmd(ctx, nil, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return serveCmd(ctx, args[1:], stdout, stderr)
	case "config":
		if len(args) < 2 || args[1] != "check" {
			return fmt.Errorf("%w: extauthz config check FILE", errUsage)
		}
		return configCheckCmd(args[2:], stdout, stderr)
	case "policy":
		if len(args) < 2 {
			return fmt.Errorf("%w: extauthz policy test|eval|build|replay", errUsage)
		}
		switch args[1] {
		case "test":
			return policyTestCmd(ctx, args[2:], stdout, stderr)
		case "eval":
			return policyEvalCmd(ctx, args[2:], stdout, stderr)
		case "build":
			return policyBuildCmd(ctx, args[2:], stdout, stderr)
		case "replay":
			return policyReplayCmd(ctx, args[2:], stdout, stderr)
		}
		return fmt.Errorf("%w: unknown policy command %q", errUsage, args[1])
	case "sessions":
		return sessionsCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCmd(ctx, args[1:], stdout, stderr)
	case "dev":
		return devCmd(ctx, args[1:], stdout, stderr)
	case "dev-idp":
		return devIdPCmd(ctx, args[1:], stdout, stderr)
	case "login":
		return loginCmd(ctx, args[1:], stderr, defaultClientEnv())
	case "token":
		return tokenCmd(ctx, args[1:], stdout, stderr, defaultClientEnv())
	case "logout":
		return logoutCmd(ctx, args[1:], stderr, defaultClientEnv())
	case "version", "--version":
		fmt.Fprintf(stdout, "extauthz %s\n", version)
		return nil
	case "help", "-h", "-help", "--help":
		return errHelp
	}
	if len(args[0]) > 0 && args[0][0] == '-' {
		return serveCmd(ctx, args, stdout, stderr)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
