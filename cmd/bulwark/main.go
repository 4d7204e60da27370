// Command bulwark hardens containers and manages their images: SBOMs,
// vulnerability scans, configuration checks, signatures, a policy-enforcing
// registry and admission control, in one binary. See docs/.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"bulwark.dev/bulwark/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
