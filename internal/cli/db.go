package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/vulndb"
)

// dbFlag is the --db flag shared by db and scan commands.
type dbFlag struct{ path string }

func (f *dbFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.path, "db", "", "vulnerability database file (default: BULWARK_DB or bulwark/vulndb/vuln.db under the user cache directory)")
}

func (f *dbFlag) resolve(e *env) (string, error) {
	if f.path != "" {
		return f.path, nil
	}
	if p := e.getenv("BULWARK_DB"); p != "" {
		return p, nil
	}
	return vulndb.DefaultPath()
}

func (f *dbFlag) open(e *env) (*vulndb.DB, error) {
	p, err := f.resolve(e)
	if err != nil {
		return nil, err
	}
	return vulndb.Open(p)
}

func newDBCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the local vulnerability database (offline first)",
	}
	cmd.AddCommand(newDBImportCommand(e), newDBUpdateCommand(e), newDBStatusCommand(e), newDBExportCommand(e))
	return cmd
}

func newDBImportCommand(e *env) *cobra.Command {
	var db dbFlag
	cmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Import OSV JSON files, directories, all.zip archives and Alpine secdb files",
		Long: `Import advisories into the local database, in one transaction.

PATH may be an OSV JSON file, a directory of them (searched recursively),
an osv.dev-style all.zip archive, or Alpine secdb JSON (either the
per-package layout or Alpine's published v3.18-main.json). A malformed
record is reported with its file and ID and skipped; it never aborts the
import. A single bundle written by 'bulwark db export' replaces the whole
database, after its manifest's SHA-256 sums are checked.`,
		Example: `  bulwark db import ./osv/Go/all.zip ./osv/Debian/all.zip
  bulwark db import ./secdb/alpine/3.18`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && vulndb.IsBundle(args[0]) {
				p, err := db.resolve(e)
				if err != nil {
					return err
				}
				n, err := vulndb.ImportBundle(args[0], p)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "installed the bundle's %d advisories as %s\n", n, p)
				return nil
			}
			d, err := db.open(e)
			if err != nil {
				return err
			}
			defer d.Close()
			start := time.Now()
			res, err := d.Import(cmd.Context(), args, time.Now())
			if err != nil {
				return err
			}
			for _, p := range res.Problems {
				fmt.Fprintf(e.stderr, "skipped: %s\n", p)
			}
			fmt.Fprintf(e.stderr, "imported %d advisories in %s", res.Imported, time.Since(start).Round(time.Millisecond))
			if n := len(res.Problems); n > 0 {
				fmt.Fprintf(e.stderr, "; skipped %d malformed record(s), listed on stderr", n)
			}
			fmt.Fprintln(e.stderr)
			return nil
		},
	}
	db.register(cmd)
	return cmd
}

func newDBStatusCommand(e *env) *cobra.Command {
	var (
		db     dbFlag
		out    formatFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the database's records per ecosystem, last update and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				out.format = "json"
			}
			if err := out.validate(); err != nil {
				return err
			}
			d, err := db.open(e)
			if err != nil {
				return err
			}
			defer d.Close()
			st, err := d.Status(cmd.Context())
			if err != nil {
				return err
			}
			return out.write(e, func(w io.Writer, format string) error {
				if format == "json" {
					return writeJSONTo(w, st)
				}
				fmt.Fprintf(w, "database: %s\nrecords:  %d\n", st.Path, st.Records)
				if !st.Updated.IsZero() {
					fmt.Fprintf(w, "updated:  %s (%s ago)\n", st.Updated.Format(time.RFC3339), time.Since(st.Updated).Round(time.Minute))
				} else {
					fmt.Fprintln(w, "updated:  never (run bulwark db import)")
				}
				for _, src := range sortedKeys(st.Sources) {
					fmt.Fprintf(w, "source:   %-20s %d records\n", src, st.Sources[src])
				}
				for _, u := range sortedKeys(st.Feeds) {
					fmt.Fprintf(w, "feed:     %s (%s)\n", u, st.Feeds[u])
				}
				fmt.Fprintln(w, "ecosystems:")
				for _, k := range sortedKeys(st.PerEco) {
					fmt.Fprintf(w, "  %-28s %d\n", k, st.PerEco[k])
				}
				return nil
			})
		},
	}
	db.register(cmd)
	out.register(cmd, "table", "json")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the same as --format json)")
	cmd.Flags().MarkDeprecated("json", "use --format json")
	return cmd
}

func newDBUpdateCommand(e *env) *cobra.Command {
	var (
		db         dbFlag
		baseURL    string
		ecosystems []string
	)
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Fetch per-ecosystem all.zip archives (the public OSV bucket or a mirror)",
		Long: `Fetch <base-url>/<Ecosystem>/all.zip for each ecosystem with conditional
requests (ETag, Last-Modified), check length, the server's MD5 and the zip
structure, and replace that feed's records in one transaction. A failed or
interrupted download leaves the previous database fully usable.`,
		Example: `  bulwark db update
  bulwark db update --base-url https://mirror.example.internal/osv --ecosystem Debian --ecosystem Go`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := db.open(e)
			if err != nil {
				return err
			}
			defer d.Close()
			u := &vulndb.Updater{DB: d, BaseURL: baseURL, Ecosystems: ecosystems}
			res, err := u.Update(cmd.Context())
			for _, r := range res {
				switch r.Status {
				case "updated":
					fmt.Fprintf(e.stderr, "%-10s updated: %d advisories (%d bytes, sha256 %s)\n", r.Ecosystem, r.Imported, r.Bytes, r.SHA256)
				case "unchanged":
					fmt.Fprintf(e.stderr, "%-10s unchanged\n", r.Ecosystem)
				default:
					fmt.Fprintf(e.stderr, "%-10s FAILED: %s\n", r.Ecosystem, r.Error)
				}
				for _, p := range r.Problems {
					fmt.Fprintf(e.stderr, "skipped: %s\n", p)
				}
			}
			if err != nil {
				return fmt.Errorf("update: %w (the previous records of failed feeds are kept)", err)
			}
			return nil
		},
	}
	db.register(cmd)
	cmd.Flags().StringVar(&baseURL, "base-url", vulndb.DefaultBaseURL, "where <Ecosystem>/all.zip archives are served (a mirror for air-gapped sites)")
	cmd.Flags().StringArrayVar(&ecosystems, "ecosystem", nil, "ecosystem to fetch (repeatable; default: "+strings.Join(vulndb.DefaultEcosystems, ", ")+")")
	return cmd
}

func newDBExportCommand(e *env) *cobra.Command {
	var db dbFlag
	cmd := &cobra.Command{
		Use:   "export FILE",
		Short: "Write a one-file offline bundle (database snapshot + SHA-256 manifest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := db.open(e)
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.Export(cmd.Context(), args[0], time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "wrote %s; install it elsewhere with: bulwark db import %s\n", args[0], args[0])
			return nil
		},
	}
	db.register(cmd)
	return cmd
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
