package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/tfgate/tfgate/authz/session"
)

// sessionsTimeout bounds one `extauthz sessions` command.
const sessionsTimeout = time.Minute

// newSessionsCmd: list, revoke and count sessions in the Redis the
// servers of --config use. Revocations are published, so every server's
// cache drops them at once.
func newSessionsCmd() *cobra.Command {
	var configPath string
	c := groupCmd(&cobra.Command{
		Use:     "sessions",
		GroupID: "operate",
		Short:   "List, revoke and count sessions in Redis",
		Long: `List, revoke and count the sessions in the Redis store the servers of --config
use (sessions.store: redis). A revocation reaches every replica at once.`,
	})
	c.PersistentFlags().StringVar(&configPath, "config", "", "the servers' config file (required: sessions must be in Redis)")
	withStore := func(c *cobra.Command, fn func(ctx context.Context, store *session.Redis) error) error {
		store, closeStore, err := openSessions(configPath)
		if err != nil {
			return err
		}
		defer closeStore()
		ctx, cancel := context.WithTimeout(c.Context(), sessionsTimeout)
		defer cancel()
		return fn(ctx, store)
	}

	var user, group, handle string
	var asJSON bool
	list := &cobra.Command{
		Use:     "list --user SUBJECT",
		Short:   "List a user's sessions",
		Example: `  extauthz sessions list --user alice --config /etc/tfgate/extauthz.yaml`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if user == "" {
				return usagef("--user is required")
			}
			return withStore(c, func(ctx context.Context, store *session.Redis) error {
				return listSessions(ctx, store, user, asJSON, c.OutOrStdout())
			})
		},
	}
	list.Flags().StringVar(&user, "user", "", "the subject (SAML NameID, x-tfgate-user) whose sessions to list")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke --user SUBJECT | --group GROUP | --session HANDLE",
		Short: "Revoke sessions at once on every replica",
		Example: `  extauthz sessions revoke --session 4b1d9e0c2a7f6e11 --config /etc/tfgate/extauthz.yaml
  extauthz sessions revoke --group contractors --config /etc/tfgate/extauthz.yaml`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if n := len(slices.DeleteFunc([]string{user, group, handle}, func(s string) bool { return s == "" })); n != 1 {
				return usagef("give exactly one of --user, --group, --session")
			}
			return withStore(c, func(ctx context.Context, store *session.Redis) error {
				return revokeSessions(ctx, store, user, group, handle, c.OutOrStdout())
			})
		},
	}
	revoke.Flags().StringVar(&user, "user", "", "revoke every session of this subject (SAML NameID)")
	revoke.Flags().StringVar(&group, "group", "", "revoke every session of a member of this group")
	revoke.Flags().StringVar(&handle, "session", "", "revoke the session with this handle (x-tfgate-session)")

	stats := &cobra.Command{
		Use:     "stats",
		Short:   "Count what the session store holds",
		Example: `  extauthz sessions stats --config /etc/tfgate/extauthz.yaml`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withStore(c, func(ctx context.Context, store *session.Redis) error {
				return sessionStats(ctx, store, asJSON, c.OutOrStdout())
			})
		},
	}
	stats.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	c.AddCommand(list, revoke, stats)
	return c
}

// openSessions connects to the Redis store of a config file.
func openSessions(path string) (*session.Redis, func(), error) {
	if path == "" {
		return nil, nil, usagef("--config FILE is required (the servers' config, with sessions in Redis)")
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Sessions.Store != "redis" {
		return nil, nil, fmt.Errorf("%s: sessions.store is %q: sessions live in each server's memory, out of reach", path, cfg.Sessions.Store)
	}
	// go-redis logs every failed dial to stderr; the command reports the
	// failure itself, once.
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})
	store, client, err := newRedisStore(cfg.Sessions)
	if err != nil {
		return nil, nil, err
	}
	return store, func() { client.Close() }, nil
}

func listSessions(ctx context.Context, store *session.Redis, user string, asJSON bool, stdout io.Writer) error {
	if user == "" {
		return usagef("--user is required")
	}
	infos, err := store.SessionsOf(ctx, user)
	if err != nil {
		return err
	}
	if asJSON {
		type row struct {
			Session   string    `json:"session"`
			ExpiresAt time.Time `json:"expires_at"`
			IdleUntil time.Time `json:"idle_until"`
		}
		rows := make([]row, 0, len(infos))
		for _, in := range infos {
			rows = append(rows, row{in.Handle, in.ExpiresAt.UTC(), in.KeyExpiresAt.UTC()})
		}
		return json.NewEncoder(stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tEXPIRES\tIDLE UNTIL")
	for _, in := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", in.Handle, in.ExpiresAt.UTC().Format(time.RFC3339), in.KeyExpiresAt.UTC().Format(time.RFC3339))
	}
	if len(infos) == 0 {
		return fmt.Errorf("no live sessions of %q. --user is the SAML NameID exactly as the IdP sends it: "+
			"the \"subject\" of /saml/whoami and x-tfgate-user in the decision log (often not the email; "+
			"the development IdP's are alice, bob, carol and dave)", user)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d session(s) of %s (browser sessions and the tokens signed in from them)\n", len(infos), user)
	return nil
}

func revokeSessions(ctx context.Context, store *session.Redis, user, group, handle string, stdout io.Writer) error {
	set := 0
	for _, v := range []string{user, group, handle} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return usagef("give exactly one of --user, --group, --session")
	}
	var (
		n   int
		err error
	)
	switch {
	case user != "":
		n, err = store.RevokeSubject(ctx, user)
	case group != "":
		n, err = store.RevokeGroup(ctx, group)
	default:
		if !session.IsHandle(handle) {
			return usagef("--session %q is not a session handle (16 hex digits, as in x-tfgate-session)", handle)
		}
		var found bool
		found, err = store.RevokeHandle(ctx, handle)
		if found {
			n = 1
		}
	}
	if n > 0 {
		fmt.Fprintf(stdout, "revoked %d session(s)\n", n)
	}
	if errors.Is(err, session.ErrNotReplicated) {
		return fmt.Errorf("%w; run the command again once every replica is back", err)
	}
	if err == nil && n == 0 {
		what := map[bool]string{true: "user " + strconv.Quote(user), false: ""}[user != ""]
		switch {
		case group != "":
			what = "a member of group " + strconv.Quote(group)
		case handle != "":
			what = "handle " + handle
		}
		return fmt.Errorf("nothing to revoke: no live session of %s (already ended, revoked, or a name the IdP spells differently; "+
			"see extauthz sessions list)", what)
	}
	return err
}

func sessionStats(ctx context.Context, store *session.Redis, asJSON bool, stdout io.Writer) error {
	st, err := store.Stats(ctx)
	if err != nil {
		return err
	}
	rows := []struct {
		name, label string
		n           int
	}{
		{"sessions", "sessions and tokens (browser sign-ins, and tokens of extauthz login)", st.Sessions},
		{"session_handles", "handles (one per session, for revoke --session)", st.Handles},
		{"subject_indexes", "users with sessions", st.Subjects},
		{"group_indexes", "groups with signed-in members", st.Groups},
		{"family_indexes", "sign-ins with tokens (families)", st.Families},
		{"revoked_families", "recently revoked families (kept 10 minutes)", st.Revoked},
		{"saml_logout_indexes", "IdP sign-ins indexed for single logout (per NameID and per SessionIndex)", st.SAML},
		{"pending_logins", "sign-ins in progress (AuthnRequests awaiting the IdP)", st.Requests},
		{"replay_cache", "replay cache (used assertions and refresh tokens)", st.Replays},
		{"other_keys", "other keys under the prefix", st.Other},
		{"cache_subscribers", "servers listening for revocations", st.Subscribers},
		{"redis_masters", "Redis masters scanned", st.Masters},
	}
	if asJSON {
		m := make(map[string]int, len(rows))
		for _, r := range rows {
			m[r.name] = r.n
		}
		return json.NewEncoder(stdout).Encode(m)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%8d  %s\n", r.n, r.label)
	}
	return nil
}
