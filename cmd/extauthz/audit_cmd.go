package main

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tfgate/tfgate/authz"
)

func newAuditCmd() *cobra.Command {
	c := groupCmd(&cobra.Command{
		Use:     "audit",
		GroupID: "check",
		Short:   "Verify the tamper-evident decision log",
	})
	c.AddCommand(newAuditVerifyCmd())
	return c
}

type auditVerifyOptions struct {
	keys         []string
	partialStart bool
	format       string
}

func newAuditVerifyCmd() *cobra.Command {
	var o auditVerifyOptions
	c := &cobra.Command{
		Use:   "verify [--key PUB.pem] FILE...",
		Short: "Check a chained decision log and name the first broken line",
		Long: `Check the hash chain and the signed checkpoints of a decision log written with
decision_log.audit (give every file of a rotated series, in any order). Names
the first broken line: a modified, deleted, inserted or reordered line, a cut
file, a file missing from the series, a checkpoint signed by another key.
Exit 1 when anything is broken.`,
		Example: `  extauthz audit verify --key audit.pub /var/log/tfgate/decisions.jsonl*`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("missing FILE")
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return auditVerifyCmd(c.Context(), o, args, c.OutOrStdout())
		},
	}
	c.Flags().StringArrayVar(&o.keys, "key", nil, "Ed25519 public key (PEM) that may sign checkpoints; repeat for several")
	c.Flags().BoolVar(&o.partialStart, "partial-start", false, "accept a series whose oldest files were removed by retention")
	c.Flags().StringVar(&o.format, "format", "text", "text or json")
	return c
}

// auditVerifyCmd checks the hash chain and checkpoint signatures of a
// decision log series and names the first broken line.
func auditVerifyCmd(_ context.Context, o auditVerifyOptions, files []string, stdout io.Writer) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format must be text or json")
	}
	opts := authz.AuditVerifyOptions{PartialStart: o.partialStart}
	for _, k := range o.keys {
		pub, err := readEd25519Public(k)
		if err != nil {
			return err
		}
		opts.Keys = append(opts.Keys, pub)
	}
	rep, err := authz.VerifyAudit(files, opts)
	if err != nil {
		return err
	}
	if o.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintln(stdout, p)
		}
		status := "ok"
		if len(rep.Problems) > 0 {
			status = "BROKEN"
		}
		fmt.Fprintf(stdout, "%s: %d files, %d lines, %d checkpoints", status, len(rep.Files), rep.Lines, rep.Checkpoints)
		if rep.Unverified {
			fmt.Fprint(stdout, " (signatures not checked: no --key)")
		} else {
			fmt.Fprintf(stdout, ", signed through seq %d", rep.SignedThrough)
		}
		if rep.Unsigned > 0 {
			fmt.Fprintf(stdout, "; the last %d lines are after the last checkpoint (not yet signed, or cut)", rep.Unsigned)
		}
		fmt.Fprintln(stdout)
	}
	if len(rep.Problems) > 0 {
		return errFailed
	}
	return nil
}

func readEd25519Public(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		// A private key file works too: its public half is what we need.
		if pk, perr := x509.ParsePKCS8PrivateKey(blk.Bytes); perr == nil {
			if ek, ok := pk.(ed25519.PrivateKey); ok {
				return ek.Public().(ed25519.PublicKey), nil
			}
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return pub, nil
}

func readEd25519Private(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 private key", path)
	}
	return ek, nil
}
