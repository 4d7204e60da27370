package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

func newCheckDockerCommand(e *env) *cobra.Command {
	var (
		format, output, minSev, host, state, save string
		exitCode                                  int
	)
	cmd := &cobra.Command{
		Use:   "docker",
		Short: "Check the live Docker Engine: daemon settings, its files, running containers",
		Long: `Check a Docker Engine through its API socket (DOCKER_HOST or
/var/run/docker.sock; no docker CLI needed): daemon settings (user namespaces,
live-restore, inter-container communication, default seccomp and AppArmor,
no-new-privileges, logging, TLS on TCP sockets), ownership and modes of the
daemon's files (CIS Docker section 3), and every running container (CIS
sections 4 and 5). --save-state writes the snapshot the checks read;
--state checks a saved one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(report.CheckFormats, format) {
				return fmt.Errorf("--format %q: want one of %s", format, strings.Join(report.CheckFormats, ", "))
			}
			min, err := severity.Parse(minSev)
			if err != nil {
				return fmt.Errorf("--severity: %w", err)
			}
			var st *checks.DockerState
			source := state
			if state != "" {
				b, err := readFileLimited(state, 64<<20)
				if err != nil {
					return err
				}
				st = &checks.DockerState{}
				if err := json.Unmarshal(b, st); err != nil {
					return fmt.Errorf("docker state %s: %w", state, err)
				}
			} else {
				dc, err := image.NewDockerClient(host)
				if err != nil {
					return err
				}
				h := host
				if h == "" {
					h = e.getenv("DOCKER_HOST")
				}
				if h == "" {
					h = "unix:///var/run/docker.sock"
				}
				source = h
				if st, err = checks.GatherDocker(cmd.Context(), dc, h, strings.HasPrefix(h, "unix://"), "/"); err != nil {
					return err
				}
			}
			if save != "" {
				b, _ := json.MarshalIndent(st, "", "  ")
				if err := os.WriteFile(save, b, 0o600); err != nil {
					return err
				}
			}
			all, err := checks.All()
			if err != nil {
				return err
			}
			var docker []*checks.Check
			for _, c := range all {
				if c.Target == checks.TargetDocker {
					docker = append(docker, c)
				}
			}
			results := checks.Run(docker, checks.DockerObjects(source, st), nil, nil)
			kept := results[:0]
			for _, r := range results {
				if r.Severity >= min {
					kept = append(kept, r)
				}
			}
			rep := &report.CheckReport{SchemaVersion: "1", Tool: sbom.Tool{Name: "bulwark", Version: Version()},
				Results: kept, Checks: docker, Summary: report.SummarizeChecks(kept)}
			if err := writeOutput(e, output, func(w io.Writer) error { return report.WriteChecks(w, format, rep) }); err != nil {
				return err
			}
			if exitCode != 0 && checks.Failing(kept, min) > 0 {
				return exitError{code: exitCode}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.CheckFormats, ", "))
	fl.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&minSev, "severity", "LOW", "report checks at or above this severity")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when a reported check fails (0: report only)")
	fl.StringVar(&host, "host", "", "Docker Engine address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	fl.StringVar(&state, "state", "", "check a snapshot saved with --save-state instead of a live engine")
	fl.StringVar(&save, "save-state", "", "write the gathered snapshot to this file")
	return cmd
}
