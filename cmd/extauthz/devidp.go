package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"
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

func newDevIdPCmd() *cobra.Command {
	var o devIdPOptions
	c := &cobra.Command{
		Use:     "dev-idp",
		GroupID: "run",
		Short:   "The development IdP alone (one-click sign-in as a demo user)",
		Long: `Run the development SAML IdP on its own, for docker-compose and for trying
tfgate's SP against something that signs real assertions. Anyone can sign in as
any demo user with one click: it is for development only.`,
		Example: `  extauthz dev-idp --metadata-out /tmp/idp.xml
  extauthz dev-idp --listen 127.0.0.1:8081 --sp-acs http://127.0.0.1:8501/saml/acs --users users.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return devIdPCmd(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	f := c.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to listen on (loopback only unless --allow-non-loopback)")
	f.StringVar(&o.baseURL, "base-url", "", "URL browsers reach the IdP at (default: http://LISTEN)")
	f.StringVar(&o.spEntityID, "sp-entity-id", "http://127.0.0.1:8501/saml/metadata", "the SP (tfgate) entity ID it signs assertions for")
	f.StringArrayVar(&o.acs, "sp-acs", nil, "an ACS URL of the SP (repeatable; default: http://127.0.0.1:8501/saml/acs)")
	f.StringVar(&o.usersFile, "users", "", "YAML list of demo users {id, name, email, groups} (default: alice, bob, carol, dave)")
	f.StringVar(&o.metadataOut, "metadata-out", "", "also write the IdP's metadata to this file, for tfgate's saml.idps[].metadata_file")
	f.BoolVar(&o.nonLoopback, "allow-non-loopback", false, "listen on a non-loopback address (containers); still development only")
	return c
}

type devIdPOptions struct {
	listen, baseURL, spEntityID, usersFile, metadataOut string
	acs                                                 []string
	nonLoopback                                         bool
}

// devIdPCmd runs the development IdP on its own, for docker-compose and
// for trying tfgate's SP against something that signs real assertions.
func devIdPCmd(ctx context.Context, o devIdPOptions, stdout, stderr io.Writer) error {
	acs := o.acs
	if len(acs) == 0 {
		acs = []string{"http://127.0.0.1:8501/saml/acs"}
	}
	users, err := loadDemoUsers(o.usersFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("development IdP: %w (choose another address with --listen)", err)
	}
	if o.baseURL == "" {
		o.baseURL = "http://" + ln.Addr().String()
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	idp, err := devidp.New(devidp.Config{
		BaseURL: o.baseURL, Users: users, AllowNonLoopback: o.nonLoopback, Logger: log,
		SPs: []devidp.SP{{EntityID: o.spEntityID, ACSURLs: acs}},
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("development IdP: %w", err)
	}
	fmt.Fprint(stderr, devIdPWarning)
	errc := make(chan error, 1)
	go func() { errc <- idp.Serve(ctx, ln) }()
	if o.metadataOut != "" {
		md, err := idp.Metadata()
		if err == nil {
			err = os.WriteFile(o.metadataOut, md, 0o644)
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
