package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tfgate/tfgate/internal/devidp"
)

// devIdPWarning is printed before the development IdP serves anything.
const devIdPWarning = `
  ******************************************************************
  *  DEVELOPMENT IdP: anyone can sign in as any demo user with one  *
  *  click. It is for trying tfgate out, never for production.      *
  ******************************************************************
`

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// devIdPCmd runs the development IdP on its own, for docker-compose and
// for trying tfgate's SP against something that signs real assertions.
func devIdPCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev-idp", stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to listen on (loopback only unless --allow-non-loopback)")
	baseURL := fs.String("base-url", "", "URL browsers reach the IdP at (default: http://LISTEN)")
	spEntityID := fs.String("sp-entity-id", "http://127.0.0.1:8501/saml/metadata", "the SP (tfgate) entity ID it signs assertions for")
	var acs stringList
	fs.Var(&acs, "sp-acs", "an ACS URL of the SP (repeatable; default: http://127.0.0.1:8501/saml/acs)")
	usersFile := fs.String("users", "", "YAML list of demo users {id, name, email, groups} (default: alice, bob, carol, dave)")
	metadataOut := fs.String("metadata-out", "", "also write the IdP's metadata to this file, for tfgate's saml.idps[].metadata_file")
	nonLoopback := fs.Bool("allow-non-loopback", false, "listen on a non-loopback address (containers); still development only")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if len(acs) == 0 {
		acs = stringList{"http://127.0.0.1:8501/saml/acs"}
	}
	users, err := loadDemoUsers(*usersFile)
	if err != nil {
		return err
	}
	// Refused before anything is bound or printed: a URL on stdout would
	// say the IdP is up when it is about to refuse to serve.
	if host, _, err := net.SplitHostPort(*listen); !*nonLoopback && (err != nil || !isLoopback(host)) {
		return fmt.Errorf("development IdP: %w: --listen %q (use 127.0.0.1:PORT, or --allow-non-loopback in a container)", devidp.ErrNotLoopback, *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("development IdP: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !*nonLoopback && (!ok || !tcp.IP.IsLoopback()) {
		ln.Close()
		return fmt.Errorf("development IdP: %w: %s", devidp.ErrNotLoopback, ln.Addr())
	}
	if *baseURL == "" {
		*baseURL = "http://" + ln.Addr().String()
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	idp, err := devidp.New(devidp.Config{
		BaseURL: *baseURL, Users: users, AllowNonLoopback: *nonLoopback, Logger: log,
		SPs: []devidp.SP{{EntityID: *spEntityID, ACSURLs: acs}},
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("development IdP: %w", err)
	}
	fmt.Fprint(stderr, devIdPWarning)
	errc := make(chan error, 1)
	go func() { errc <- idp.Serve(ctx, ln) }()
	if *metadataOut != "" {
		md, err := idp.Metadata()
		if err == nil {
			err = os.WriteFile(*metadataOut, md, 0o644)
		}
		if err != nil {
			return fmt.Errorf("writing IdP metadata: %w", err)
		}
	}
	fmt.Fprintf(stdout, "development IdP at %s (metadata: %s)\n", idp.BaseURL(), idp.MetadataURL())
	return <-errc
}

func loadDemoUsers(path string) ([]devidp.User, error) {
	if path == "" {
		return devidp.DefaultUsers(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading demo users: %w", err)
	}
	var raw []struct {
		ID     string   `yaml:"id"`
		Name   string   `yaml:"name"`
		Email  string   `yaml:"email"`
		Groups []string `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	users := make([]devidp.User, len(raw))
	for i, u := range raw {
		users[i] = devidp.User{ID: u.ID, Name: u.Name, Email: u.Email, Groups: u.Groups}
	}
	return users, nil
}
