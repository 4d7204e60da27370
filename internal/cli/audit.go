package cli

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/store"
)

func newAuditCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and maintain the server's audit trail"}
	var data, database string
	var out formatFlags
	var keys []string
	verify := &cobra.Command{
		Use:   "verify [--data DIR | --database URL] [--key audit.key.pub...]",
		Short: "Check the audit trail for edited, removed, inserted or reordered records",
		Long: `Recompute every record's hash and its link to the record before, check
that sequence numbers are contiguous, that every checkpoint is signed by a
trusted key and agrees with the chain, and that the trail reaches the last
checkpoint. Exit 0 when intact, 1 with the problems found, 2 on error.

The trusted key is DIR/audit.key.pub by default; with --database (a
PostgreSQL store shared by replicas) name each replica's key with --key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			dsn := database
			if dsn == "" {
				dsn = filepath.Join(data, "bulwark.db")
			}
			if len(keys) == 0 {
				keys = []string{filepath.Join(data, "audit.key.pub")}
			}
			trusted, err := trustedAuditKeys("--key", keys)
			if err != nil {
				return err
			}
			st, err := store.Open(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer st.Close()
			rep, err := audit.Verify(cmd.Context(), st, trusted)
			if err != nil {
				return err
			}
			err = out.write(e, func(w io.Writer, format string) error {
				if format == "json" {
					return json.NewEncoder(w).Encode(rep)
				}
				fmt.Fprintf(w, "%d records (seq %d to %d), %d signed checkpoints\n", rep.Records, rep.First, rep.Last, rep.Checkpoints)
				for _, p := range rep.Problems {
					fmt.Fprintf(w, "  seq %d: %s\n", p.Seq, p.What)
				}
				if rep.OK() {
					fmt.Fprintln(w, "intact")
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !rep.OK() {
				fmt.Fprintf(e.stderr, "bulwark: the audit trail has been tampered with: %d problem(s)\n", len(rep.Problems))
				return exitError{code: ExitFindings}
			}
			return nil
		},
	}
	verify.Flags().StringVar(&data, "data", "bulwark-data", "the server's data directory")
	verify.Flags().StringVar(&database, "database", "", "PostgreSQL URL of the server's store (default: SQLite in --data)")
	verify.Flags().StringArrayVar(&keys, "key", nil, "trusted checkpoint public key (default DIR/audit.key.pub)")
	out.register(verify, "table", "json")
	cmd.AddCommand(verify)
	return cmd
}

// trustedAuditKeys reads the audit checkpoint public keys a flag names.
func trustedAuditKeys(flag string, files []string) ([]ed25519.PublicKey, error) {
	var trusted []ed25519.PublicKey
	for _, k := range files {
		pub, err := audit.LoadPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		trusted = append(trusted, pub)
	}
	return trusted, nil
}
