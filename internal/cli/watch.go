package cli

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/falco"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/watch"
)

func newWatchCommand(e *env) *cobra.Command {
	var rules []string
	var noBuiltin, report, prevent, noFiles, noEBPF bool
	var host, format, record, replay string
	var serverURL, user, tokenEnv, spool string
	cmd := &cobra.Command{
		Use:   "watch [--rules FILE]...",
		Short: "Watch running containers: Falco-format rules on the kernel's process events, alerts as Falco JSON",
		Long: `Read the kernel's process events (the netlink process connector: needs
root or CAP_NET_ADMIN) and each container's file opens and writes
(fanotify, one mark per container root filesystem: needs CAP_SYS_ADMIN;
--no-files leaves them out) and the network, ptrace, link and kernel
module syscalls (eBPF raw tracepoints on sys_enter and sys_exit: needs
root or CAP_BPF and CAP_PERFMON; --no-ebpf leaves them out), attribute
each to its container through
the Docker Engine API, and run bulwark's built-in rules and any Falco
rules files given with --rules. Every alert is one JSON line on stdout in
Falco's output shape (falcosidekick and SIEM parsers read it). Alerts are
limited to 20 a minute per container and rule.

--rules-report loads the rules and reports, for each rule, whether it
runs or which field or operator it needs that bulwark does not provide;
broken items are named with their file and line, and the rest loads.
Exit 1 when a file has broken items.

--record FILE appends every event the agent judges to FILE (one JSON
object a line); --replay FILE judges such a stream with the rules given,
without privileges, to test rules or measure them. See docs/watch.md.`,
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
			if replay != "" {
				return replayEvents(cmd.Context(), e, rs, replay)
			}
			dc, err := image.NewDockerClient(host)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			sum := rs.Summary()
			a := &watch.Agent{Rules: rs, Docker: dc, Out: e.stdout, Log: e.logger}
			if record != "" {
				// Events carry command lines, which may hold secrets.
				f, err := os.OpenFile(record, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
				if err != nil {
					return fmt.Errorf("--record: %w", err)
				}
				defer f.Close()
				bw := bufio.NewWriterSize(f, 64<<10)
				defer bw.Flush()
				a.Record = bw
			}
			var sender *watch.Sender
			if serverURL != "" {
				token := e.getenv(tokenEnv)
				if user == "" || token == "" {
					return fmt.Errorf("--server: give the robot's name with --user and its token in $%s (a robot with the scope \"*:report\": POST /api/v1/robots)", tokenEnv)
				}
				if sender, err = watch.OpenSender(&watch.Sender{URL: serverURL, User: user, Token: token, Dir: spool, Log: e.logger}); err != nil {
					return err
				}
				a.Out = io.MultiWriter(e.stdout, sender)
				sctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); sender.Run(sctx) }()
				// However Run ends, the spool gets a last try.
				defer func() { cancel(); <-done }()
			}
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
			if !noEBPF {
				if a.Syscalls, err = watch.OpenSyscallWatcher(); err != nil {
					fmt.Fprintf(e.stderr, "bulwark watch: no syscall events: %v; run as root or give the binary CAP_BPF and CAP_PERFMON (or pass --no-ebpf)\n", err)
				} else {
					defer a.Syscalls.Close()
					sources = append(sources, "eBPF raw tracepoints (connect, accept, socket, ptrace, link, symlink, dup, kernel modules)")
				}
			}
			if sender != nil {
				sources = append(sources, "alerts sent to "+serverURL+" (spool "+spool+")")
			}
			if prevent {
				sources = append(sources, "drift prevention (fanotify) in containers labelled "+watch.ImmutableLabel+"=true")
			}
			return a.Run(ctx, func(s watch.Sources) {
				if s.ProcConnector != nil {
					fmt.Fprintf(e.stderr, "bulwark watch: %v: run as root or give the binary CAP_NET_ADMIN\n", s.ProcConnector)
					return
				}
				fmt.Fprintf(e.stderr, "bulwark watch: %d of %d rules loaded (see --rules-report); sources: %s\n", sum.Evaluable, sum.Rules, strings.Join(sources, ", "))
			})
		},
	}
	cmd.Flags().StringArrayVar(&rules, "rules", nil, "Falco rules file (repeatable; later files append to and override earlier ones)")
	cmd.Flags().BoolVar(&noBuiltin, "no-builtin", false, "do not load bulwark's built-in rules")
	cmd.Flags().BoolVar(&report, "rules-report", false, "report which rules load and why the others cannot be evaluated, then exit")
	cmd.Flags().BoolVar(&prevent, "prevent", false, "deny the exec of drifted binaries (not in the image) in containers labelled bulwark.dev/immutable=true (fanotify; needs CAP_SYS_ADMIN)")
	cmd.Flags().BoolVar(&noFiles, "no-files", false, "do not watch file opens and writes in containers (fanotify)")
	cmd.Flags().BoolVar(&noEBPF, "no-ebpf", false, "do not load the eBPF programs (network, ptrace, link and kernel module syscalls)")
	cmd.Flags().StringVar(&record, "record", "", "append every event judged to `FILE` (JSON lines, mode 0600) for --replay")
	cmd.Flags().StringVar(&replay, "replay", "", "judge a recorded event stream (`FILE`, - for stdin, .gz read as gzip) instead of the kernel's events; needs no privileges")
	cmd.Flags().StringVar(&serverURL, "server", "", "also send every alert to this bulwark server (https://host:port), spooled to disk while it is unreachable")
	cmd.Flags().StringVar(&user, "user", "", "the robot account --server authenticates as (robot$NAME, with the scope \"*:report\")")
	cmd.Flags().StringVar(&tokenEnv, "token-env", "BULWARK_TOKEN", "environment variable holding the robot's token for --server")
	cmd.Flags().StringVar(&spool, "spool", "/var/lib/bulwark/watch-spool", "directory where alerts wait until --server has stored them")
	cmd.Flags().StringVar(&format, "format", "table", "--rules-report format: table or json")
	cmd.Flags().StringVar(&host, "host", "", "Docker Engine address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	return cmd
}

// replayEvents judges a recorded stream and says how fast.
func replayEvents(ctx context.Context, e *env, rs *falco.Ruleset, name string) error {
	var r io.Reader = e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("--replay: %w", err)
		}
		defer f.Close()
		r = f
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(f)
			if err != nil {
				return fmt.Errorf("--replay %s: %w", name, err)
			}
			r = zr
		}
	}
	bw := bufio.NewWriterSize(e.stdout, 64<<10)
	defer bw.Flush()
	a := &watch.Agent{Rules: rs, Out: bw, Log: e.logger}
	start := time.Now()
	n, alerts, err := a.Replay(ctx, r)
	el := time.Since(start)
	fmt.Fprintf(e.stderr, "bulwark watch: replayed %d events from %s with %d rules: %d alerts in %s (%.0f events/s)\n",
		n, name, rs.Summary().Evaluable, alerts, el.Round(time.Millisecond), float64(n)/max(el.Seconds(), 1e-9))
	if err != nil {
		return fmt.Errorf("--replay %s: %w", name, err)
	}
	return nil
}
