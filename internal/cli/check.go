package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/report"
)

func newCheckCommand(e *env) *cobra.Command {
	var (
		out                            checkOutput
		ignoreFile, untrusted          string
		sandboxes, proxies, policyDirs []string
		oldPolicyDirs                  []string
		timeout                        time.Duration
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
			if err := out.validate(); err != nil {
				return err
			}
			all, err := checks.All()
			if err != nil {
				return err
			}
			for _, d := range append(policyDirs, oldPolicyDirs...) {
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
			if n := len(loadErrs); n > 0 {
				fmt.Fprintf(e.stderr, "bulwark: %d input(s) could not be read and fail BW-INP-001 (first: %s)\n", n, loadErrs[0].Error())
			}
			if len(objs) == 0 {
				return fmt.Errorf("nothing to check in %s: no Kubernetes manifest, Dockerfile or compose file was found", strings.Join(args, ", "))
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			results, err := checks.Run(ctx, all, objs, env, exc)
			if errors.Is(err, context.DeadlineExceeded) {
				hint := "raise it"
				if len(policyDirs)+len(oldPolicyDirs) > 0 {
					hint = "a Rego policy under --rego may loop or be slow"
				}
				return fmt.Errorf("the checks did not finish within --timeout %s (%s); nothing was reported", timeout, hint)
			}
			if err != nil {
				return err
			}
			if f, ok := exc.(*policy.IgnoreFile); ok {
				warnings = append(warnings, unusedIgnores(f, true)...)
			}
			if out.format != "table" || out.output != "" {
				for _, w := range warnings {
					fmt.Fprintln(e.stderr, "warning:", w)
				}
			}
			if err := out.write(e, &report.CheckReport{Results: results,
				LoadErrors: loadErrs, Warnings: warnings, Checks: all}); err != nil {
				return err
			}
			if len(loadErrs) == len(objs) {
				return fmt.Errorf("no input in %s could be read (see the BW-INP-001 failures above)", strings.Join(args, ", "))
			}
			return nil
		},
	}
	cmd.AddCommand(newCheckDockerCommand(e), newCheckImageCommand(e))
	out.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&ignoreFile, "ignorefile", "", "exceptions file (id, object glob, reason, expires)")
	fl.StringVar(&untrusted, "untrusted-label", "", "label marking workloads that must run in a sandbox (default bulwark.dev/untrusted=true)")
	fl.StringArrayVar(&sandboxes, "sandbox-runtime-class", nil, "runtimeClassName that counts as a sandbox (repeatable; default gvisor, runsc, kata...)")
	fl.StringArrayVar(&policyDirs, "rego", nil, "directory of custom checks written in Rego (repeatable; see docs/custom-checks.md)")
	// --policy names a verification policy file in verify; here it was
	// the Rego directory. The old spelling still works, with a notice.
	fl.StringArrayVar(&oldPolicyDirs, "policy", nil, "directory of custom checks written in Rego")
	fl.MarkDeprecated("policy", "use --rego DIR (--policy names a verification policy file in verify)")
	fl.DurationVar(&timeout, "timeout", 0, "stop and fail when the checks take longer (e.g. 30s; default no limit)")
	fl.StringArrayVar(&proxies, "egress-proxy", nil, "CIDR of the egress proxy; egress elsewhere fails BW-NET-004 (repeatable)")
	return cmd
}

// unusedIgnores warns about ignore entries that excepted nothing: the
// check exceptions (BW- ids) for check commands, the others for scans,
// as one ignore file may serve both.
func unusedIgnores(f *policy.IgnoreFile, checkIDs bool) []string {
	var out []string
	for _, x := range f.Unused() {
		if strings.HasPrefix(x.ID, "BW-") != checkIDs {
			continue
		}
		what := x.ID
		if x.Object != "" {
			what += " for " + x.Object
		}
		if x.Package != "" {
			what += " in " + x.Package
		}
		out = append(out, fmt.Sprintf("ignore entry %s in %s matched nothing (objects are named as the findings name them: Kind namespace/name, or the file)", what, f.Path))
	}
	return out
}
