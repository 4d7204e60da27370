package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/sla"
	"bulwark.dev/bulwark/internal/store"
)

func newReportCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports: the patch clock, compliance frameworks"}
	cmd.AddCommand(newReportSLACommand(e), newReportComplianceCommand(e))
	return cmd
}

// slaFlags are the patch-clock policy flags the report and the server
// share.
// openServerStore opens bulwark serve's store for a report: PostgreSQL
// at database, else the SQLite file in data, which must exist (a report
// must not create an empty store where there was none).
func openServerStore(ctx context.Context, data, database string) (*store.Store, error) {
	dsn := database
	if dsn == "" {
		dsn = filepath.Join(data, "bulwark.db")
		if _, err := os.Stat(dsn); err != nil {
			return nil, fmt.Errorf("--data %s: no store there (%v): give the directory bulwark serve --data uses, or --database for PostgreSQL", data, err)
		}
	}
	return store.Open(ctx, dsn)
}

type slaFlags struct {
	due        string
	projectDue []string
}

func (f *slaFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.due, "sla", "CRITICAL=72h,HIGH=72h", "how long a fix may wait, per severity (`SEV=DURATION,...`: 72h, 30d; 0 for no deadline)")
	cmd.Flags().StringArrayVar(&f.projectDue, "sla-project", nil, "a project's own deadlines (`PROJECT:SEV=DURATION,...`; repeatable)")
}

func (f *slaFlags) policy() (sla.Policy, error) {
	pol := sla.DefaultPolicy()
	due, err := sla.ParsePolicy(f.due)
	if err != nil {
		return pol, fmt.Errorf("--sla: %w", err)
	}
	pol.Due = due
	for _, p := range f.projectDue {
		name, rest, ok := strings.Cut(p, ":")
		if !ok || name == "" {
			return pol, fmt.Errorf("--sla-project %q: want PROJECT:SEV=DURATION[,SEV=DURATION]", p)
		}
		d, err := sla.ParsePolicy(rest)
		if err != nil {
			return pol, fmt.Errorf("--sla-project %q: %w", p, err)
		}
		if pol.Projects == nil {
			pol.Projects = map[string]map[severity.Level]time.Duration{}
		}
		if _, dup := pol.Projects[name]; dup {
			return pol, fmt.Errorf("--sla-project: project %q given twice", name)
		}
		pol.Projects[name] = d
	}
	return pol, nil
}

func newReportSLACommand(e *env) *cobra.Command {
	var data, database, at string
	var all bool
	var pf slaFlags
	var out formatFlags
	cmd := &cobra.Command{
		Use:   "sla [--data DIR | --database URL] [--sla CRITICAL=72h,HIGH=72h] [--at TIME]",
		Short: "The patch clock: per repository and vulnerability, how long a known fix has waited",
		Long: `Read the findings history and the tag history the server keeps, and
report one clock per repository and vulnerability: it starts when a tag
of the repository names a digest with the finding and a fix is known
(a finding without a fix is "no-fix" until a rescan reports one), is due
by the policy for its severity (critical and high within 72 hours by
default; --sla and --sla-project change it), and stops when no tag of
the repository names a digest with the finding any more. States:
breached, warning (past 75% of the window), open, no-fix, late
(stopped after its deadline) and met. The totals give the mean time to
remediate per project and severity.

The table (and html, a self-contained page) lists the clocks still running (--all: every one); json and
csv list every clock. --at computes the report as of a time (RFC 3339),
so the same store gives the same bytes. Exit 0 with no breach, 1 with
breached clocks, 2 on error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			pol, err := pf.policy()
			if err != nil {
				return err
			}
			now := time.Now()
			if at != "" {
				if now, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at %q: want a time such as 2026-12-01T09:00:00Z", at)
				}
			}
			st, err := openServerStore(cmd.Context(), data, database)
			if err != nil {
				return err
			}
			defer st.Close()
			clocks, err := sla.ClocksAt(cmd.Context(), st, now, pol)
			if err != nil {
				return err
			}
			rep := sla.NewReport(now, clocks)
			if err := out.write(e, func(w io.Writer, format string) error {
				switch format {
				case "json":
					return rep.WriteJSON(w)
				case "csv":
					return rep.WriteCSV(w)
				case "html":
					return rep.WriteHTML(w, all)
				}
				return rep.WriteTable(w, all)
			}); err != nil {
				return err
			}
			if n := rep.Summary.States[sla.Breached]; n > 0 {
				fmt.Fprintf(e.stderr, "bulwark: %d patch clock(s) breached: rebuild the images on the fixed versions and move their tags\n", n)
				return exitError{code: ExitFindings}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "bulwark-data", "the server's data directory")
	cmd.Flags().StringVar(&database, "database", "", "PostgreSQL URL of the server's store (default: SQLite in --data)")
	cmd.Flags().StringVar(&at, "at", "", "compute the report as of this `TIME` (RFC 3339) instead of now")
	cmd.Flags().BoolVar(&all, "all", false, "table and html: also list the clocks that have stopped")
	pf.register(cmd)
	out.register(cmd, "table", "json", "csv", "html")
	return cmd
}
