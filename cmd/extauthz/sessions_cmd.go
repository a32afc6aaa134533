package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/tfgate/tfgate/authz/session"
)

// sessionsTimeout bounds one `extauthz sessions` command.
const sessionsTimeout = time.Minute

const sessionsUsage = "extauthz sessions list --user U | revoke --user U|--group G|--session HANDLE | stats  [--config FILE]"

// sessionsCmd runs `extauthz sessions list|revoke|stats` against the Redis
// the servers of --config use. Revocations are published, so every
// server's cache drops them at once.
func sessionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, sessionsUsage)
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("sessions "+sub, stderr)
	configPath := fs.String("config", "", "the servers' config file (required: sessions must be in Redis)")
	var user, group, handle *string
	var asJSON *bool
	switch sub {
	case "list":
		user = fs.String("user", "", "the subject (SAML NameID, x-tfgate-user) whose sessions to list")
		asJSON = fs.Bool("json", false, "print JSON")
	case "revoke":
		user = fs.String("user", "", "revoke every session of this subject (SAML NameID)")
		group = fs.String("group", "", "revoke every session of a member of this group")
		handle = fs.String("session", "", "revoke the session with this handle (x-tfgate-session)")
	case "stats":
		asJSON = fs.Bool("json", false, "print JSON")
	default:
		return fmt.Errorf("%w: unknown sessions command %q; %s", errUsage, sub, sessionsUsage)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	store, closeStore, err := openSessions(*configPath)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(ctx, sessionsTimeout)
	defer cancel()
	switch sub {
	case "list":
		return listSessions(ctx, store, *user, *asJSON, stdout)
	case "revoke":
		return revokeSessions(ctx, store, *user, *group, *handle, stdout)
	}
	return sessionStats(ctx, store, *asJSON, stdout)
}

// openSessions connects to the Redis store of a config file.
func openSessions(path string) (*session.Redis, func(), error) {
	if path == "" {
		return nil, nil, fmt.Errorf("%w: --config FILE is required (the servers' config, with sessions in Redis)", errUsage)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Sessions.Store != "redis" {
		return nil, nil, fmt.Errorf("%s: sessions.store is %q: sessions live in each server's memory, out of reach", path, cfg.Sessions.Store)
	}
	store, client, err := newRedisStore(cfg.Sessions)
	if err != nil {
		return nil, nil, err
	}
	return store, func() { client.Close() }, nil
}

func listSessions(ctx context.Context, store *session.Redis, user string, asJSON bool, stdout io.Writer) error {
	if user == "" {
		return fmt.Errorf("%w: sessions list needs --user", errUsage)
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
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d session(s) of %s\n", len(infos), user)
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
		return fmt.Errorf("%w: sessions revoke needs exactly one of --user, --group, --session", errUsage)
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
			return fmt.Errorf("%w: --session %q is not a session handle (16 hex digits, as in x-tfgate-session)", errUsage, handle)
		}
		var found bool
		found, err = store.RevokeHandle(ctx, handle)
		if found {
			n = 1
		}
	}
	if n > 0 || err == nil {
		fmt.Fprintf(stdout, "revoked %d session(s)\n", n)
	}
	if errors.Is(err, session.ErrNotReplicated) {
		return fmt.Errorf("%w; run the command again once every replica is back", err)
	}
	return err
}

func sessionStats(ctx context.Context, store *session.Redis, asJSON bool, stdout io.Writer) error {
	st, err := store.Stats(ctx)
	if err != nil {
		return err
	}
	rows := []struct {
		name string
		n    int
	}{
		{"sessions", st.Sessions}, {"session_handles", st.Handles}, {"subject_indexes", st.Subjects},
		{"group_indexes", st.Groups}, {"family_indexes", st.Families}, {"revoked_families", st.Revoked},
		{"pending_logins", st.Requests}, {"replay_cache", st.Replays},
		{"other_keys", st.Other}, {"cache_subscribers", st.Subscribers}, {"redis_masters", st.Masters},
	}
	if asJSON {
		m := make(map[string]int, len(rows))
		for _, r := range rows {
			m[r.name] = r.n
		}
		return json.NewEncoder(stdout).Encode(m)
	}
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-18s %d\n", r.name, r.n)
	}
	return nil
}
