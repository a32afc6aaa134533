package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tfgate/tfgate/rego"
)

func newConfigCmd() *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "config",
		GroupID: "check",
		Short:   "Check a config file",
	})
	c.AddCommand(newConfigCheckCmd())
	return c
}

func newConfigCheckCmd() *cobra.Command {
	var online bool
	c := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file, printing every problem with its line",
		Long: `Validate a config file as "extauthz serve --config FILE" would read it, printing
every problem at once, sorted by line, each with its line and field. Exit 0 and
"FILE: ok" when it is valid, 1 when it is not.

With --online it also does what serve does at start, without listening: it
compiles the policy, opens the decision log for appending (creating nothing),
loads every IdP's metadata (files and URLs), and pings Redis.`,
		Example: `  extauthz config check /etc/tfgate/extauthz.yaml
  extauthz config check --online /etc/tfgate/extauthz.yaml   # on the host that will run serve`,
		Args: exactArgs("FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			return configCheckCmd(c.Context(), args[0], online, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	c.Flags().BoolVar(&online, "online", false, "also compile the policy, open the decision log, fetch IdP metadata and ping Redis, as serve would at start")
	return c
}

func configCheckCmd(ctx context.Context, path string, online bool, stdout, stderr io.Writer) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return errFailed
	}
	if online {
		if cerr := checkOnline(ctx, path, cfg); cerr != nil {
			fmt.Fprintf(stderr, "%v\n", cerr)
			return errFailed
		}
		fmt.Fprintf(stdout, "%s: ok (online: policy, decision log, IdP metadata, sessions store)\n", path)
		return nil
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return nil
}

// onlineTimeout bounds all of `config check --online`.
const onlineTimeout = 30 * time.Second

// checkOnline does, without listening, what serve does at start with a
// valid config, and reports what would fail. It runs every check, so one
// unreachable service does not hide another.
func checkOnline(ctx context.Context, path string, cfg Config) *ConfigError {
	ctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	data, err := os.ReadFile(path)
	if err != nil {
		return &ConfigError{File: path, Problems: []Problem{{Msg: err.Error()}}}
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	if len(doc.Content) > 0 {
		doc = *doc.Content[0]
	}
	cerr := &ConfigError{File: path}
	quiet := slog.New(slog.DiscardHandler)

	if _, err := rego.New(ctx, rego.Config{Dir: cfg.Policy.Dir, DecisionCacheEntries: 1}); err != nil {
		cerr.add(&doc, "policy.dir", "the policy does not load: %v", err)
	}
	if err := canAppend(cfg.DecisionLog.Path); err != nil {
		cerr.add(&doc, "decision_log.path", "%v", err)
	}
	for i, idp := range cfg.SAML.IdPs {
		one := cfg.SAML
		one.IdPs = []IdPConfig{idp}
		if _, _, err := loadIdPs(ctx, one, quiet, nil); err != nil {
			field := ".metadata_file"
			if idp.MetadataURL != "" {
				field = ".metadata_url"
			}
			cerr.add(&doc, fmt.Sprintf("saml.idps[%d]%s", i, field), "%v", err)
		}
	}
	if cfg.Sessions.Store == "redis" {
		if err := pingRedis(ctx, cfg.Sessions.Redis); err != nil {
			cerr.add(&doc, "sessions.redis", "%v", err)
		}
	}
	if len(cerr.Problems) == 0 {
		return nil
	}
	cerr.sort()
	return cerr
}

// canAppend checks that the decision log could be opened for appending,
// creating nothing: an existing file is opened, a new one's directory must
// take a file.
func canAppend(path string) error {
	if path == "-" || path == "off" {
		return nil
	}
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		return f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot append to it: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tfgate-check-*")
	if err != nil {
		return fmt.Errorf("cannot create it: %w", err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// pingRedis connects to the configured Redis (every node, for a cluster)
// and pings it.
func pingRedis(ctx context.Context, cfg RedisConfig) error {
	redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)}) // its dial errors are ours to report
	client, err := newRedisClient(cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if cc, ok := client.(*redis.ClusterClient); ok {
		err = cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	} else {
		err = client.Ping(ctx).Err()
	}
	if err != nil {
		return fmt.Errorf("Redis does not answer: %w", err)
	}
	return nil
}
