package cli

import (
	"encoding/json"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/watch"
)

func newWatchCommand(e *env) *cobra.Command {
	var rules []string
	var noBuiltin, report, prevent, noFiles bool
	var host, format string
	cmd := &cobra.Command{
		Use:   "watch [--rules FILE]...",
		Short: "Watch running containers: Falco-format rules on the kernel's process events, alerts as Falco JSON",
		Long: `Read the kernel's process events (the netlink process connector: needs
root or CAP_NET_ADMIN) and each container's file opens and writes
(fanotify, one mark per container root filesystem: needs CAP_SYS_ADMIN;
--no-files leaves them out), attribute each to its container through
the Docker Engine API, and run bulwark's built-in rules and any Falco
rules files given with --rules. Every alert is one JSON line on stdout in
Falco's output shape (falcosidekick and SIEM parsers read it). Alerts are
limited to 20 a minute per container and rule.

--rules-report loads the rules and reports, for each rule, whether it
runs or which field or operator it needs that bulwark does not provide;
broken items are named with their file and line, and the rest loads.
Exit 1 when a file has broken items. See docs/watch.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := watch.LoadRules(rules, noBuiltin)
			if err != nil {
				return err
			}
			if report {
				switch format {
				case "json":
					b, _ := json.MarshalIndent(map[string]any{"rules": rs.Rules, "problems": rs.Problems}, "", "  ")
					fmt.Fprintf(e.stdout, "%s\n", b)
				case "table":
					tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "FILE:LINE\tRULE\tSTATE\tWHY")
					for _, r := range rs.Rules {
						state := "loaded"
						if !r.Evaluable() {
							state = "not evaluable"
						} else if !r.Enabled {
							state = "disabled"
						}
						fmt.Fprintf(tw, "%s:%d\t%s\t%s\t%s\n", r.File, r.Line, r.Name, state, r.Problem)
					}
					tw.Flush()
					sum := rs.Summary()
					fmt.Fprintf(e.stdout, "\n%d rules: %d loaded, %d not evaluable, %d disabled; %d broken items\n", sum.Rules, sum.Evaluable, sum.Rules-sum.Evaluable, sum.Disabled, len(rs.Problems))
				default:
					return fmt.Errorf("--format %q: want table or json", format)
				}
				for _, p := range rs.Problems {
					fmt.Fprintf(e.stderr, "bulwark: %v\n", p)
				}
				if len(rs.Problems) > 0 {
					return exitError{code: ExitFindings}
				}
				return nil
			}
			for _, p := range rs.Problems {
				fmt.Fprintf(e.stderr, "bulwark: skipped: %v\n", p)
			}
			dc, err := image.NewDockerClient(host)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			sum := rs.Summary()
			a := &watch.Agent{Rules: rs, Docker: dc, Out: e.stdout, Log: e.logger}
			if prevent {
				if a.Prevent, err = watch.OpenPreventer(); err != nil {
					return err
				}
				defer a.Prevent.Close()
			}
			sources := []string{"process connector (exec)"}
			if !noFiles {
				if a.Files, err = watch.OpenFileWatcher(); err != nil {
					// The agent still runs: exec rules need no fanotify.
					fmt.Fprintf(e.stderr, "bulwark watch: no file events: %v; run as root or give the binary CAP_SYS_ADMIN (or pass --no-files)\n", err)
				} else {
					defer a.Files.Close()
					sources = append(sources, "fanotify (open, write) in every container")
				}
			}
			if prevent {
				sources = append(sources, "drift prevention (fanotify) in containers labelled "+watch.ImmutableLabel+"=true")
			}
			return a.Run(ctx, func(s watch.Sources) {
				if s.ProcConnector != nil {
					fmt.Fprintf(e.stderr, "bulwark watch: %v: run as root or give the binary CAP_NET_ADMIN\n", s.ProcConnector)
					return
				}
				fmt.Fprintf(e.stderr, "bulwark watch: %d of %d rules loaded (see --rules-report); sources: %s; eBPF tracepoints are not built yet\n", sum.Evaluable, sum.Rules, strings.Join(sources, ", "))
			})
		},
	}
	cmd.Flags().StringArrayVar(&rules, "rules", nil, "Falco rules file (repeatable; later files append to and override earlier ones)")
	cmd.Flags().BoolVar(&noBuiltin, "no-builtin", false, "do not load bulwark's built-in rules")
	cmd.Flags().BoolVar(&report, "rules-report", false, "report which rules load and why the others cannot be evaluated, then exit")
	cmd.Flags().BoolVar(&prevent, "prevent", false, "deny the exec of drifted binaries (not in the image) in containers labelled bulwark.dev/immutable=true (fanotify; needs CAP_SYS_ADMIN)")
	cmd.Flags().BoolVar(&noFiles, "no-files", false, "do not watch file opens and writes in containers (fanotify)")
	cmd.Flags().StringVar(&format, "format", "table", "--rules-report format: table or json")
	cmd.Flags().StringVar(&host, "host", "", "Docker Engine address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	return cmd
}
