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

	"github.com/tfgate/tfgate/authz"
)

// auditCmd dispatches "extauthz audit ...".
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("%w: extauthz audit verify [--key PUB.pem] FILE...", errUsage)
	}
	return auditVerifyCmd(ctx, args[1:], stdout, stderr)
}

// auditVerifyCmd checks the hash chain and checkpoint signatures of a
// decision log series and names the first broken line.
func auditVerifyCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	var keys stringList
	fs.Var(&keys, "key", "Ed25519 public key (PEM) that may sign checkpoints; repeat for several (e.g. across a key rotation)")
	partial := fs.Bool("partial-start", false, "accept a series whose oldest files were removed by retention")
	format := fs.String("format", "text", "text or json")
	if err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: extauthz audit verify [--key PUB.pem] FILE...", errUsage)
	}
	opts := authz.AuditVerifyOptions{PartialStart: *partial}
	for _, k := range keys {
		pub, err := readEd25519Public(k)
		if err != nil {
			return err
		}
		opts.Keys = append(opts.Keys, pub)
	}
	rep, err := authz.VerifyAudit(fs.Args(), opts)
	if err != nil {
		return err
	}
	if *format == "json" {
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
