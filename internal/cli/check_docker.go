package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/report"
)

func newCheckDockerCommand(e *env) *cobra.Command {
	var (
		out               checkOutput
		host, state, save string
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
			if err := out.validate(); err != nil {
				return err
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
			docker, err := checksFor(checks.TargetDocker)
			if err != nil {
				return err
			}
			results, err := checks.Run(cmd.Context(), docker, checks.DockerObjects(source, st), nil, nil)
			if err != nil {
				return fmt.Errorf("checking the Docker Engine: %w", err)
			}
			return out.write(e, &report.CheckReport{Results: results, Checks: docker})
		},
	}
	out.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&host, "host", "", "Docker Engine address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	fl.StringVar(&state, "state", "", "check a snapshot saved with --save-state instead of a live engine")
	fl.StringVar(&save, "save-state", "", "write the gathered snapshot to this file")
	return cmd
}
