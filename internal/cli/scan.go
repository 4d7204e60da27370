package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/scan"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/sign"
	verdictpkg "bulwark.dev/bulwark/internal/verdict"
	"bulwark.dev/bulwark/internal/vulndb"
)

type scanFlags struct {
	image         imageFlags
	db            dbFlag
	format        string
	output        string
	severities    string
	unknownAs     string
	ignoreUnfixed bool
	exitCode      int
	ignoreFile    string
	vex           []string
	dbMaxAge      time.Duration

	// attest (scan image only): sign the SBOM and the scan result and
	// attach them to the scanned digest.
	attest    bool
	attestKey string
	store     storeFlag
	signer    sign.Signer
	repo      name.Repository
}

func (f *scanFlags) register(cmd *cobra.Command, image bool) {
	if image {
		f.image.register(cmd)
	}
	f.db.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.format, "format", "f", "table", "output format: "+strings.Join(report.ScanFormats, ", "))
	fl.StringVarP(&f.output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&f.severities, "severity", "", "report only these severities: a comma list (CRITICAL,HIGH) or a level and above (HIGH+); default all")
	fl.StringVar(&f.unknownAs, "unknown-severity", "high", "what a finding of unknown severity counts as for --severity and --exit-code: critical, high, medium, low, unknown or ignore")
	fl.BoolVar(&f.ignoreUnfixed, "ignore-unfixed", false, "leave out vulnerabilities that have no fixed version yet")
	fl.IntVar(&f.exitCode, "exit-code", 0, "exit with this code when findings remain after exceptions (0: report only); errors always exit 2")
	fl.StringVar(&f.ignoreFile, "ignorefile", "", "YAML file of exceptions (id, package, reason, expires)")
	fl.StringArrayVar(&f.vex, "vex", nil, "OpenVEX document; not_affected and fixed statements suppress findings (repeatable)")
	fl.DurationVar(&f.dbMaxAge, "db-max-age", 0, "refuse to scan with a database older than this (e.g. 72h); 0 only warns after 7 days")
}

func newScanCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Find known vulnerabilities in an image, a root filesystem or an SBOM",
		Long: `Match the software inventory against the local vulnerability database
(import it first with 'bulwark db import'). Nothing is fetched at scan time.

Exit status: 0 when the scan ran (and, with --exit-code N, found nothing
left after exceptions), N when findings remain, 2 on usage or input errors.`,
	}
	var imgFlags, fsFlags, sbomFlags scanFlags
	img := &cobra.Command{
		Use:   "image REF",
		Short: "Scan an image (any reference syntax: registry, oci:, docker-archive:, docker:, ...)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := imgFlags.prepareAttest(e, args[0]); err != nil {
				return err
			}
			return runScan(cmd.Context(), e, &imgFlags, func() (*sbom.Document, error) {
				return inventoryOf(cmd.Context(), e, &imgFlags.image, args[0])
			})
		},
	}
	imgFlags.register(img, true)
	img.Flags().BoolVar(&imgFlags.attest, "attest", false, "attach the SBOM (CycloneDX) and the scan result (cosign vuln predicate) to the scanned digest as signed attestations")
	img.Flags().StringVar(&imgFlags.attestKey, "key", "", "private key for --attest (password from BULWARK_PASSWORD or COSIGN_PASSWORD)")
	imgFlags.store.register(img)
	img.MarkFlagsRequiredTogether("attest", "key")
	fsCmd := &cobra.Command{
		Use:   "fs DIR",
		Short: "Scan a root filesystem or directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), e, &fsFlags, func() (*sbom.Document, error) {
				return inventoryOf(cmd.Context(), e, &fsFlags.image, "dir:"+strings.TrimPrefix(args[0], "dir:"))
			})
		},
	}
	fsFlags.register(fsCmd, true)
	sb := &cobra.Command{
		Use:   "sbom FILE",
		Short: "Scan an SBOM (CycloneDX JSON, SPDX JSON or bulwark JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), e, &sbomFlags, func() (*sbom.Document, error) {
				b, err := readFileLimited(args[0], 256<<20)
				if err != nil {
					return nil, err
				}
				return report.ReadSBOM(b, args[0])
			})
		},
	}
	sbomFlags.register(sb, false)
	cmd.AddCommand(img, fsCmd, sb)
	return cmd
}

func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

func inventoryOf(ctx context.Context, e *env, f *imageFlags, ref string) (*sbom.Document, error) {
	res, err := f.scan(ctx, e, ref)
	if err != nil {
		return nil, err
	}
	return res.Doc, nil
}

func parseSeverities(s string) ([]severity.Level, error) {
	sel, err := severity.ParseSelection(s)
	if err != nil {
		return nil, fmt.Errorf("--severity: %w", err)
	}
	return sel, nil
}

func countedUnknown(v *policy.Verdict) int {
	n := 0
	for _, r := range v.Results {
		if r.CountedAs != nil {
			n++
		}
	}
	return n
}

func runScan(ctx context.Context, e *env, f *scanFlags, inventory func() (*sbom.Document, error)) error {
	if !slices.Contains(report.ScanFormats, f.format) {
		return fmt.Errorf("--format %q: want one of %s", f.format, strings.Join(report.ScanFormats, ", "))
	}
	if f.exitCode == ExitError || f.exitCode < 0 || f.exitCode > 125 {
		return fmt.Errorf("--exit-code %d: use 1 or 3-125; 2 is reserved for errors", f.exitCode)
	}
	sevs, err := parseSeverities(f.severities)
	if err != nil {
		return err
	}
	now := time.Now()
	gate := &policy.Gate{Severities: sevs, IgnoreUnfixed: f.ignoreUnfixed, Now: now}
	if gate.UnknownAs, gate.IgnoreUnknown, err = policy.ParseUnknownSeverity(f.unknownAs); err != nil {
		return fmt.Errorf("--unknown-severity: %w", err)
	}
	if f.ignoreFile != "" {
		if gate.Ignore, err = policy.LoadIgnoreFile(f.ignoreFile); err != nil {
			return err
		}
	}
	for _, p := range f.vex {
		v, err := policy.LoadVEX(p)
		if err != nil {
			return err
		}
		gate.VEX = append(gate.VEX, v)
	}
	dbPath, err := f.db.resolve(e)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no vulnerability database at %s: import advisories first with 'bulwark db import PATH' (OSV JSON, all.zip, Alpine secdb)", dbPath)
	}
	db, err := vulndb.Open(dbPath)
	if err != nil {
		return err
	}
	defer db.Close()
	records, updated, err := db.Info(ctx)
	if err != nil {
		return err
	}
	if records == 0 {
		return fmt.Errorf("the vulnerability database at %s is empty: import advisories with 'bulwark db import PATH'", dbPath)
	}
	if age := now.Sub(updated); f.dbMaxAge > 0 && age > f.dbMaxAge {
		return fmt.Errorf("the vulnerability database was last updated %s ago, more than --db-max-age %s: update it (bulwark db import / db update)", age.Round(time.Minute), f.dbMaxAge)
	}

	doc, err := inventory()
	if err != nil {
		return err
	}
	gate.Subject = doc.Source.Digest
	res, err := scan.Vulnerabilities(ctx, db, doc, scan.Options{Now: now})
	if err != nil {
		return err
	}
	verdict := gate.Apply(res.Findings)
	warnings := scan.Messages(res.Warnings)
	if n := countedUnknown(verdict); n > 0 {
		warnings = append(warnings, fmt.Sprintf("%d finding(s) have no severity in their advisory or any related record; they count as %s (--unknown-severity)", n, gate.UnknownAs))
	}
	if gate.Ignore != nil {
		warnings = append(warnings, unusedIgnores(gate.Ignore, false)...)
	}
	for _, x := range verdict.Expired {
		warnings = append(warnings, fmt.Sprintf("ignore entry %s (%s) expired on %s and no longer applies: fix the finding or renew the exception", x.ID, x.Reason, x.Expires))
	}
	if f.format != "table" || f.output != "" {
		// The table shows them itself; other formats carry them as data
		// a reader of the terminal would not see.
		for _, w := range warnings {
			fmt.Fprintln(e.stderr, "warning:", w)
		}
	}
	rep := &report.ScanReport{
		SchemaVersion: "1",
		Tool:          sbom.Tool{Name: "bulwark", Version: Version()},
		Source:        doc.Source,
		OS:            doc.OS,
		Database:      report.DatabaseInfo{Path: dbPath, Records: records},
		Verdict:       verdict,
		Summary:       report.Summarize(verdict),
		Coverage:      res.Coverage,
		Warnings:      warnings,
		SBOM:          doc,
	}
	if doc.Tool.Name == "" {
		doc.Tool = rep.Tool
	}
	if !updated.IsZero() {
		rep.Database.Updated = updated.UTC().Format(time.RFC3339)
	}
	opts := report.SBOMOptions{Timestamp: documentTime(e, doc)}
	if err := writeOutput(e, f.output, func(w io.Writer) error { return report.WriteScan(w, f.format, rep, opts) }); err != nil {
		return err
	}
	if f.signer != nil {
		if err := attestScan(ctx, e, f, rep, opts, now); err != nil {
			return err
		}
	}
	if f.exitCode != 0 {
		if d := verdictpkg.Findings(doc.Source.Ref, verdict); !d.Allowed {
			return exitError{code: f.exitCode}
		}
	}
	return nil
}

// prepareAttest checks --attest before the scan: the image must be in a
// registry, and the key (and its password) must load, so a typo costs no
// scan.
func (f *scanFlags) prepareAttest(e *env, refStr string) error {
	if !f.attest {
		return nil
	}
	r, err := image.ParseRef(refStr)
	if err != nil {
		return err
	}
	if r.Kind != image.KindRegistry {
		return fmt.Errorf("--attest: %s is not in a registry: attestations are stored beside the image, so push it first", refStr)
	}
	ref, err := f.registry().ref(r.Name)
	if err != nil {
		return err
	}
	f.repo = ref.Context()
	if err := f.store.check(); err != nil {
		return err
	}
	f.signer, err = loadSigner(e, f.attestKey)
	return err
}

// registry is how --attest reaches the registry: as the scan did.
func (f *scanFlags) registry() *registryFlags { return &registryFlags{insecure: f.image.insecure} }

// attestScan attaches the SBOM and the scan result to the digest that was
// scanned (not to whatever the tag names now).
func attestScan(ctx context.Context, e *env, f *scanFlags, rep *report.ScanReport, opts report.SBOMOptions, started time.Time) error {
	if rep.Source.Digest == "" {
		return fmt.Errorf("--attest: the scanned image has no manifest digest")
	}
	d := f.repo.Digest(rep.Source.Digest)
	var bom bytes.Buffer
	if err := report.WriteSBOM(&bom, "cyclonedx", rep.SBOM, opts); err != nil {
		return err
	}
	var result bytes.Buffer
	if err := report.WriteScan(&result, "json", rep, opts); err != nil {
		return err
	}
	vuln, err := json.Marshal(vulnPredicate{
		Scanner: vulnScanner{URI: "https://bulwark.dev", Version: Version(), Result: result.Bytes()},
		Metadata: vulnMetadata{ScanStartedOn: started.UTC().Format(time.RFC3339),
			ScanFinishedOn: time.Now().UTC().Format(time.RFC3339)},
	})
	if err != nil {
		return err
	}
	remoteOpts := f.registry().remote(ctx)
	for _, a := range []struct {
		typ  string
		body []byte
	}{{"cyclonedx", bom.Bytes()}, {"vuln", vuln}} {
		pt, _ := sign.PredicateType(a.typ)
		if _, err := f.store.attest(ctx, d, f.signer, pt, a.body, remoteOpts...); err != nil {
			return fmt.Errorf("--attest: %w", err)
		}
		fmt.Fprintf(e.stderr, "Attested %s (%s)\n", d, pt)
	}
	return nil
}

// vulnPredicate is cosign's vulnerability-scan predicate
// (https://cosign.sigstore.dev/attestation/vuln/v1); the result is
// bulwark's JSON scan report.
type vulnPredicate struct {
	Scanner  vulnScanner  `json:"scanner"`
	Metadata vulnMetadata `json:"metadata"`
}

type vulnScanner struct {
	URI     string          `json:"uri"`
	Version string          `json:"version"`
	Result  json.RawMessage `json:"result"`
}

type vulnMetadata struct {
	ScanStartedOn  string `json:"scanStartedOn"`
	ScanFinishedOn string `json:"scanFinishedOn"`
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
