package cli

import (
	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/report"
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
			st := &checks.ImageState{Ref: args[0], Config: res.Doc.Source.Config, OS: res.Doc.OS, Packages: len(res.Doc.Packages)}
			for _, l := range res.Doc.Source.Layers {
				st.History = append(st.History, l.CreatedBy)
			}
			res.Tree.Walk(func(p string, n *image.Node) error {
				if n.Type == image.TypeFile && checks.NotableFile(p, n.Mode) {
					st.Files = append(st.Files, checks.ImageFile{Path: p, Mode: n.Mode, Size: n.Size})
				}
				return nil
			})
			imgChecks, err := checksFor(checks.TargetImage)
			if err != nil {
				return err
			}
			return out.write(e, &report.CheckReport{Results: checks.Run(imgChecks, []*checks.Object{checks.ImageObject(st)}, nil, nil), Checks: imgChecks})
		},
	}
	flags.register(cmd)
	out.register(cmd)
	return cmd
}
