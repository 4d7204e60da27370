package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/dockerbench"
	"bulwark.dev/bulwark/internal/image"
)

func newCISCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cis",
		Short: "Run a CIS benchmark on this host",
	}
	cmd.AddCommand(newCISDockerCommand(e), newCISKubernetesCommand(e))
	return cmd
}

func newCISDockerCommand(e *env) *cobra.Command {
	var (
		opt                       dockerbench.Options
		format, output, logFile   string
		host, root, state, save   string
		remediation, noColor, lst bool
		exitCode                  int
	)
	cmd := &cobra.Command{
		Use:   "docker",
		Short: "Run the CIS Docker Benchmark, as docker-bench-security does",
		Long: `Run every check of the CIS Docker Benchmark 1.6.0 against this host and its
Docker Engine, with docker-bench-security's IDs, wording, verdicts (PASS, WARN,
INFO, NOTE), score and JSON log, so reports from either tool compare line by
line. It reads the engine through its API socket (no docker CLI needed) and
the host's files under --root; run it as root on the engine's host.

By default sections 1-7 run (docker-bench-security's default). --check picks
checks by ID (5.1), section (5), or docker-bench-security's names (check_5_1,
container_runtime, cis, all); --include and --exclude-names restrict the
containers and images judged (regular expressions on their names).
--save-state writes the snapshot judged; --state judges a saved one.

Exit status: 0 when the benchmark ran (with --exit-code N: N when any check
WARNs), 2 when it could not run.`,
		Example: `  bulwark cis docker
  bulwark cis docker --check 5 --include '^web-' --format json -o bench.json
  bulwark cis docker --log docker-bench.log --remediation --exit-code 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := dockerbench.LoadCatalog()
			if err != nil {
				return err
			}
			if lst {
				return listCIS(e.stdout, cat)
			}
			if format != "text" && format != "json" {
				return fmt.Errorf("--format %q: want text or json", format)
			}
			opt.Now = time.Now()
			var h *dockerbench.Host
			if state != "" {
				f, err := os.Open(state)
				if err != nil {
					return fmt.Errorf("--state: %w (a snapshot bulwark cis docker --save-state wrote)", err)
				}
				defer f.Close()
				if h, err = dockerbench.ParseHost(state, f); err != nil {
					return err
				}
			} else {
				dc, err := image.NewDockerClient(host)
				if err != nil {
					return err
				}
				gopt := dockerbench.GatherOptions{Root: root, Getenv: e.getenv}
				if root == "/" {
					gopt.AuditRules = dockerbench.AuditctlRules
				}
				if h, err = dockerbench.Gather(cmd.Context(), dc, gopt); err != nil {
					var ee *dockerbench.EngineError
					if errors.As(err, &ee) {
						return fmt.Errorf("%w (is the engine running and its socket readable? --host sets its address)", err)
					}
					return err
				}
			}
			if save != "" {
				b, _ := json.MarshalIndent(h, "", "  ")
				if err := os.WriteFile(save, append(b, '\n'), 0o600); err != nil {
					return err
				}
			}
			rep, err := dockerbench.Run(cat, h, opt)
			if err != nil {
				return err
			}
			rep.End = time.Now()
			if logFile != "" {
				if err := writeFileWith(logFile, func(w io.Writer) error {
					return dockerbench.WriteText(w, rep, dockerbench.TextOptions{Remediation: remediation})
				}); err != nil {
					return err
				}
				if err := writeFileWith(logFile+".json", func(w io.Writer) error { return dockerbench.WriteJSON(w, rep, remediation) }); err != nil {
					return err
				}
			}
			out, color, done, err := benchOutput(e, output, noColor)
			if err != nil {
				return err
			}
			if format == "json" {
				err = dockerbench.WriteJSON(out, rep, remediation)
			} else {
				err = dockerbench.WriteText(out, rep, dockerbench.TextOptions{Color: color, Remediation: remediation})
			}
			if cerr := done(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if exitCode != 0 && rep.Failed() > 0 {
				return exitError{exitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&opt.Checks, "check", "c", nil, "checks to run: IDs (5.1), sections (5) or docker-bench-security names (check_5_1, container_runtime, cis, all)")
	fl.StringSliceVarP(&opt.Exclude, "exclude", "e", nil, "checks not to run (same forms as --check)")
	fl.StringSliceVarP(&opt.Include, "include", "i", nil, "judge only containers and images whose names match one of these regular expressions")
	fl.StringSliceVarP(&opt.ExcludeNames, "exclude-names", "x", nil, "do not judge containers and images whose names match one of these regular expressions")
	fl.StringSliceVarP(&opt.TrustedUsers, "trusted-users", "u", nil, "members of the docker group vouched for (1.1.2 WARNs on any other)")
	fl.StringVar(&format, "format", "text", "output format: text (docker-bench-security's log) or json (its JSON log)")
	fl.StringVarP(&output, "output", "o", "", "write the report to this file instead of stdout")
	fl.StringVarP(&logFile, "log", "l", "", "also write FILE (text) and FILE.json, as docker-bench-security's -l does")
	fl.BoolVarP(&remediation, "remediation", "p", false, "print how to fix every check that did not pass")
	fl.BoolVar(&noColor, "no-color", false, "no colours, even on a terminal")
	fl.StringVar(&host, "host", "", "Docker Engine address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	fl.StringVar(&root, "root", "/", "where the engine host's filesystem is (\"\" judges the engine's API alone)")
	fl.StringVar(&state, "state", "", "judge a snapshot saved with --save-state instead of this host")
	fl.StringVar(&save, "save-state", "", "write the snapshot judged to this file")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when any check WARNs")
	fl.BoolVar(&lst, "list", false, "list every check, automated or manual, and exit")
	return cmd
}

// benchOutput is where a benchmark report goes: stdout, coloured on a
// terminal unless noColor, or the file output names.
// The returned func closes the file: its error is the write's.
func benchOutput(e *env, output string, noColor bool) (io.Writer, bool, func() error, error) {
	if output == "" {
		return e.stdout, !noColor && isTerminal(e.stdout), func() error { return nil }, nil
	}
	f, err := os.Create(output)
	if err != nil {
		return nil, false, nil, err
	}
	return f, false, f.Close, nil
}

func writeFileWith(name string, f func(io.Writer) error) error {
	fh, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := f(fh); err != nil {
		fh.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return fh.Close()
}

func listCIS(w io.Writer, cat *dockerbench.Catalog) error {
	bw := bufio.NewWriter(w)
	for _, en := range cat.Entries {
		kind := dockerbench.Kind(en.ID)
		fmt.Fprintf(bw, "%-8s %-9s %s\n", en.ID, kind, en.Desc)
		if why := dockerbench.ManualReason(en.ID); why != "" {
			fmt.Fprintf(bw, "%-18s %s\n", "", why)
		}
	}
	return bw.Flush()
}
