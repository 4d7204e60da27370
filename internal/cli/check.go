package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

func newCheckCommand(e *env) *cobra.Command {
	var (
		format, output, minSev, ignoreFile, untrusted string
		exitCode                                      int
		sandboxes, proxies, policyDirs                []string
	)
	cmd := &cobra.Command{
		Use:   "check PATH...",
		Short: "Check Kubernetes manifests, Dockerfiles and compose files for hardening",
		Long: `Run the hardening checks (see docs/checks.md) over Kubernetes YAML and JSON
(multi-document, List, every workload kind), Dockerfiles and compose files.
PATH may be a file, a directory (searched recursively) or - for manifests on
standard input. Passes are recorded as well as failures.

Exceptions: the annotation bulwark.dev/ignore: "ID reason" on an object, or
an --ignorefile entry with id, object (a glob on "Kind namespace/name" or
the file), reason and expires.

Exit status: 0 when the checks ran (and, with --exit-code N, nothing at or
above --severity failed); N otherwise; 2 for usage errors or when no input
could be read.`,
		Example: `  bulwark check k8s/ Dockerfile compose.yaml
  helm template ./chart | bulwark check - --format sarif --output checks.sarif
  bulwark check manifests/ --severity HIGH --exit-code 1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(report.CheckFormats, format) {
				return fmt.Errorf("--format %q: want one of %s", format, strings.Join(report.CheckFormats, ", "))
			}
			if exitCode == ExitError || exitCode < 0 || exitCode > 125 {
				return fmt.Errorf("--exit-code %d: use 1 or 3-125; 2 is reserved for errors", exitCode)
			}
			min, err := severity.Parse(minSev)
			if err != nil {
				return fmt.Errorf("--severity: %w", err)
			}
			all, err := checks.All()
			if err != nil {
				return err
			}
			for _, d := range policyDirs {
				custom, err := checks.LoadRego(cmd.Context(), d)
				if err != nil {
					return err
				}
				all = append(all[:len(all):len(all)], custom...)
			}
			env := checks.DefaultEnv()
			if untrusted != "" {
				env.UntrustedLabel = untrusted
			}
			if len(sandboxes) > 0 {
				env.SandboxRuntimeClasses = sandboxes
			}
			env.EgressProxies = proxies
			var exc checks.Exceptions
			var warnings []string
			if ignoreFile != "" {
				f, err := policy.LoadIgnoreFile(ignoreFile)
				if err != nil {
					return err
				}
				exc = f
				for _, x := range f.Entries {
					if x.Expired(time.Now()) {
						warnings = append(warnings, fmt.Sprintf("exception %s (%s) expired on %s and no longer applies", x.ID, x.Reason, x.Expires))
					}
				}
			}
			objs, loadErrs := checks.Load(args, e.stdin)
			for _, le := range loadErrs {
				fmt.Fprintf(e.stderr, "bulwark: not checked: %s\n", le.Error())
			}
			if len(objs) == 0 {
				return fmt.Errorf("nothing to check in %s: no Kubernetes manifest, Dockerfile or compose file was read", strings.Join(args, ", "))
			}
			results := checks.Run(all, objs, env, exc)
			// --severity filters what is reported; passes are kept so the
			// denominator stays visible.
			kept := results[:0]
			for _, r := range results {
				if r.Severity >= min {
					kept = append(kept, r)
				}
			}
			rep := &report.CheckReport{SchemaVersion: "1", Tool: sbom.Tool{Name: "bulwark", Version: Version()},
				Results: kept, LoadErrors: loadErrs, Warnings: warnings, Checks: all, Summary: report.SummarizeChecks(kept)}
			if err := writeOutput(e, output, func(w io.Writer) error { return report.WriteChecks(w, format, rep) }); err != nil {
				return err
			}
			if exitCode != 0 && checks.Failing(kept, min) > 0 {
				return exitError{code: exitCode}
			}
			return nil
		},
	}
	cmd.AddCommand(newCheckDockerCommand(e), newCheckImageCommand(e))
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.CheckFormats, ", "))
	fl.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&minSev, "severity", "LOW", "report checks at or above this severity")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when a reported check fails (0: report only)")
	fl.StringVar(&ignoreFile, "ignorefile", "", "exceptions file (id, object glob, reason, expires)")
	fl.StringVar(&untrusted, "untrusted-label", "", "label marking workloads that must run in a sandbox (default bulwark.dev/untrusted=true)")
	fl.StringArrayVar(&sandboxes, "sandbox-runtime-class", nil, "runtimeClassName that counts as a sandbox (repeatable; default gvisor, runsc, kata...)")
	fl.StringArrayVar(&policyDirs, "policy", nil, "directory of custom checks written in Rego (repeatable; see docs/custom-checks.md)")
	fl.StringArrayVar(&proxies, "egress-proxy", nil, "CIDR of the egress proxy; egress elsewhere fails BW-NET-004 (repeatable)")
	return cmd
}
