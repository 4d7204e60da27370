package cli

import (
	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/scan"
)

func newCheckImageCommand(e *env) *cobra.Command {
	var (
		flags imageFlags
		out   checkOutput
	)
	cmd := &cobra.Command{
		Use:   "image REF",
		Short: "Check an image's configuration and files (user, secrets, setuid files, caches, base, ports, healthcheck)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			res, err := flags.scan(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			results, err := scan.Hygiene(cmd.Context(), res, args[0])
			if err != nil {
				return err
			}
			imgChecks, err := scan.ImageChecks()
			if err != nil {
				return err
			}
			return out.write(e, &report.CheckReport{Results: results, Checks: imgChecks})
		},
	}
	flags.register(cmd)
	out.register(cmd)
	return cmd
}
