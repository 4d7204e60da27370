package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/kubebench"
)

func newCISKubernetesCommand(e *env) *cobra.Command {
	var (
		opt                    kubebench.Options
		cfgDir, format, output string
		noColor, includeOutput bool
		exitCode               int
	)
	cmd := &cobra.Command{
		Use:     "kubernetes",
		Aliases: []string{"k8s"},
		Short:   "Run the CIS Kubernetes Benchmark from kube-bench's definitions",
		Long: `Run the CIS Kubernetes Benchmark on this machine from kube-bench's own
definitions, read as data: a cfg directory with kube-bench's config.yaml (where
each component's binaries and files are, which benchmark fits which Kubernetes
version) and its controls files (cfg/<benchmark>/master.yaml, node.yaml,
etcd.yaml, controlplane.yaml, policies.yaml). Each check runs its audit command
with /bin/sh, as kube-bench does, and gets kube-bench's verdict: PASS, FAIL
(a scored check that did not pass), WARN (unscored or manual) or INFO (skipped).
The report is kube-bench's text or JSON.

The benchmark comes from --benchmark, from --version through config.yaml's
version_mapping, or from the running API server's or kubelet's --version.
Run it as root on the node (audit commands read root-only files and /proc).

Exit status: 0 when the benchmark ran (with --exit-code N: N when a check
FAILs), 2 when it could not run (no cfg directory, a malformed controls file,
an unknown target).`,
		Example: `  bulwark cis kubernetes --config-dir /etc/kube-bench/cfg
  bulwark cis kubernetes --config-dir cfg --benchmark cis-1.12 --targets master,etcd --format json
  bulwark cis kubernetes --config-dir cfg --targets node --exit-code 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			dir := cfgDir
			if dir == "" {
				for _, d := range []string{"/etc/kube-bench/cfg", "cfg"} {
					if _, err := os.Stat(filepath.Join(d, "config.yaml")); err == nil {
						dir = d
						break
					}
				}
				if dir == "" {
					return fmt.Errorf("no kube-bench cfg directory: give --config-dir (kube-bench's cfg/, with config.yaml and one directory per benchmark)")
				}
			}
			cfg, err := kubebench.LoadConfig(dir)
			if err != nil {
				return fmt.Errorf("--config-dir %s: %w", dir, err)
			}
			host := kubebench.Local{}
			if opt.Benchmark == "" && opt.KubeVersion == "" {
				if opt.KubeVersion, err = kubebench.DetectVersion(cmd.Context(), cfg, host); err != nil {
					return err
				}
			}
			rep, err := kubebench.Run(cmd.Context(), cfg, host, opt)
			if err != nil {
				return err
			}
			out, color, done, err := benchOutput(e, output, noColor)
			if err != nil {
				return err
			}
			if format == "json" {
				err = kubebench.WriteJSON(out, rep)
			} else {
				err = kubebench.WriteText(out, rep, kubebench.TextOptions{Color: color, IncludeTestOutput: includeOutput})
			}
			if cerr := done(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if exitCode != 0 && rep.Totals.Fail > 0 {
				return exitError{exitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfgDir, "config-dir", "D", "", "kube-bench's cfg directory (default /etc/kube-bench/cfg, then ./cfg)")
	fl.StringVar(&opt.Benchmark, "benchmark", "", "benchmark to run, a directory of the cfg directory (cis-1.12, eks-1.7.0, …)")
	fl.StringVar(&opt.KubeVersion, "version", "", "Kubernetes version whose benchmark to run (config.yaml's version_mapping)")
	fl.StringSliceVarP(&opt.Targets, "targets", "s", nil, "targets to run: master, node, etcd, controlplane, policies (default every target of the benchmark)")
	fl.StringSliceVarP(&opt.Checks, "check", "c", nil, "run only these check IDs")
	fl.StringSliceVarP(&opt.Groups, "group", "g", nil, "run only these group IDs")
	fl.StringSliceVar(&opt.Skip, "skip", nil, "check or group IDs to skip (INFO)")
	fl.StringVar(&format, "format", "text", "output format: text (kube-bench's) or json (kube-bench's --json)")
	fl.StringVarP(&output, "output", "o", "", "write the report to this file instead of stdout")
	fl.BoolVar(&noColor, "no-color", false, "no colours, even on a terminal")
	fl.BoolVar(&includeOutput, "include-test-output", false, "print the audit output under each FAIL")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when any check FAILs")
	return cmd
}
