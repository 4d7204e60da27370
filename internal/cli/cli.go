// Package cli wires bulwark's commands to the domain packages. It parses
// flags, picks implementations and maps outcomes to exit codes; no
// security logic lives here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	// ExitOK: the command ran and found nothing that fails the gate.
	ExitOK = 0
	// ExitFindings is the default code for findings (--exit-code changes it).
	ExitFindings = 1
	// ExitError: bad usage, bad input or a failure to run.
	ExitError = 2
)

// env is what a command may read from its surroundings; tests inject it.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
}

// exitError carries a specific exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Run executes bulwark with args and returns the process exit code.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	level := slog.LevelWarn
	if getenv("BULWARK_DEBUG") != "" {
		level = slog.LevelDebug
	}
	e.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	root := &cobra.Command{
		Use:           "bulwark",
		Short:         "Container security hardening and image management",
		Long:          "bulwark scans, checks, signs, stores and admits container images under one policy model.\nDocumentation: docs/ in the source tree.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version(),
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newSBOMCommand(e),
		newScanCommand(e),
		newCheckCommand(e),
		newKeyCommand(e),
		newSignCommand(e),
		newVerifyCommand(e),
		newAttestCommand(e),
		newVerifyAttestationCommand(e),
		newVerifyBlobAttestationCommand(e),
		newDBCommand(e),
		newServeCommand(e),
		newAdmissionCommand(e),
		newWatchCommand(e),
		newAuditCommand(e),
		newReportCommand(e),
		newCISCommand(e),
		newNetpolCommand(e),
		newVersionCommand(e),
	)
	if f := e.getenv("BULWARK_CPUPROFILE"); f != "" {
		// For measuring bulwark itself (bench/): a pprof CPU profile of
		// the whole command.
		if pf, err := os.Create(f); err == nil {
			pprof.StartCPUProfile(pf)
			defer func() { pprof.StopCPUProfile(); pf.Close() }()
		}
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintf(stderr, "bulwark: %v\n", err)
	return ExitError
}

// Version is the module version bulwark was built as, or "dev".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the bulwark version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(e.stdout, "bulwark", Version())
			return err
		},
	}
}

// isTerminal reports whether w is a terminal, so progress is drawn only
// where a person watches.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return termIsTerminal(int(f.Fd()))
}
