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
	"strings"
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
		Use:   "list --user SUBJECT",
		Short: "List a user's sessions",
		Long: `List the live sessions of one user (the SAML NameID), soonest to end first.

Columns:
  SESSION    the handle: x-tfgate-session, "session" in the decision log, and what
             revoke --session takes
  KIND       browser        a browser's SAML sign-in (the cookie)
             cli            an access token of extauthz login
             cli-refresh    the refresh token of that login
             token          an access token for a SAML assertion (the token endpoint)
             token-refresh  the refresh token of that grant
             k8s            a token exchanged for a Kubernetes service-account token
  FROM       the IdP (entity ID) that signed the user in
  CREATED    when the session or token was issued
  LAST USED  its last use as a server saw it (recorded at most once a minute per
             server; a server's session cache hides uses for sessions.redis.cache.ttl);
             "-": not used since it was issued
  EXPIRES    when it ends; "(idle)" when the idle timeout ends it first unless used
  GROUPS     the groups its sign-in asserted

--json prints the same with exact times (RFC 3339, UTC).`,
		Example: `  extauthz sessions list --user alice --config /etc/tfgate/extauthz.yaml`,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if user == "" {
				return usagef("--user is required")
			}
			return withStore(c, func(ctx context.Context, store *session.Redis) error {
				return listSessions(ctx, store, user, asJSON, c.OutOrStdout(), time.Now())
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

func listSessions(ctx context.Context, store *session.Redis, user string, asJSON bool, stdout io.Writer, now time.Time) error {
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
			Kind      string    `json:"kind,omitempty"`
			IdP       string    `json:"idp,omitempty"`
			CreatedAt time.Time `json:"created_at,omitzero"`
			LastUsed  time.Time `json:"last_used,omitzero"`
			ExpiresAt time.Time `json:"expires_at"`
			IdleUntil time.Time `json:"idle_until"`
			Groups    []string  `json:"groups,omitempty"`
		}
		rows := make([]row, 0, len(infos))
		for _, in := range infos {
			r := row{Session: in.Handle, ExpiresAt: in.ExpiresAt.UTC(), IdleUntil: in.KeyExpiresAt.UTC()}
			if m := in.Meta; in.HasMeta {
				r.Kind, r.IdP, r.CreatedAt, r.LastUsed, r.Groups = m.Kind, m.IdP, m.CreatedAt.UTC(), m.LastUsed.UTC(), m.Groups
			}
			rows = append(rows, r)
		}
		return json.NewEncoder(stdout).Encode(rows)
	}
	if len(infos) == 0 {
		return fmt.Errorf("no live sessions of %q. --user is the SAML NameID exactly as the IdP sends it: "+
			"the \"subject\" of /saml/whoami and x-tfgate-user in the decision log (often not the email; "+
			"the development IdP's are alice, bob, carol and dave)", user)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tKIND\tFROM\tCREATED\tLAST USED\tEXPIRES\tGROUPS")
	kinds := map[string]int{}
	for _, in := range infos {
		expires := "in " + roughDuration(in.ExpiresAt.Sub(now))
		if in.KeyExpiresAt.Before(in.ExpiresAt.Add(-time.Second)) {
			// Redis drops it sooner: the idle timeout runs first.
			expires = "in " + roughDuration(in.KeyExpiresAt.Sub(now)) + " (idle)"
		}
		kind, from, created, used, groups := "-", "-", "-", "-", "-"
		if m := in.Meta; in.HasMeta {
			kind, created, used = m.Kind, ago(now, m.CreatedAt), ago(now, m.LastUsed)
			if m.IdP != "" {
				from = m.IdP
			}
			if len(m.Groups) > 0 {
				groups = strings.Join(m.Groups, ",")
			}
		}
		kinds[kind]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", in.Handle, kind, from, created, used, expires, groups)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var counts []string
	for _, k := range []string{session.KindBrowser, session.KindCLI, session.KindCLIRefresh,
		session.KindToken, session.KindTokenRefresh, session.KindK8s, "-"} {
		if n := kinds[k]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, map[bool]string{true: "unknown kind (stored before kinds were recorded)", false: k}[k == "-"]))
		}
	}
	fmt.Fprintf(stdout, "%d session(s) of %s: %s\n", len(infos), user, strings.Join(counts, ", "))
	return nil
}

// ago says how long before now t was, to the minute ("-" when t is unknown).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if d := now.Sub(t); d >= 30*time.Second {
		return roughDuration(d) + " ago"
	}
	return "just now"
}

// roughDuration is d to the minute, as a person reads it: 7m, 2h, 2h05m,
// 3d04h.
func roughDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < 48*time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	default:
		d = d.Round(time.Hour)
		return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
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
		{"session_records", "metadata records (one per session, for sessions list)", st.Metas},
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
