package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

func newCheckImageCommand(e *env) *cobra.Command {
	var (
		flags                  imageFlags
		format, output, minSev string
		exitCode               int
	)
	cmd := &cobra.Command{
		Use:   "image REF",
		Short: "Check an image's configuration and files (user, secrets, setuid files, caches, base, ports, healthcheck)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(report.CheckFormats, format) {
				return fmt.Errorf("--format %q: want one of %s", format, strings.Join(report.CheckFormats, ", "))
			}
			min, err := severity.Parse(minSev)
			if err != nil {
				return fmt.Errorf("--severity: %w", err)
			}
			img, scanner, err := flags.open(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			defer img.Close()
			res, err := scanner.Scan(cmd.Context(), img)
			if err != nil {
				return fmt.Errorf("scan %s: %w", args[0], err)
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
			all, err := checks.All()
			if err != nil {
				return err
			}
			var imgChecks []*checks.Check
			for _, c := range all {
				if c.Target == checks.TargetImage {
					imgChecks = append(imgChecks, c)
				}
			}
			results := checks.Run(imgChecks, []*checks.Object{checks.ImageObject(st)}, nil, nil)
			kept := results[:0]
			for _, r := range results {
				if r.Severity >= min {
					kept = append(kept, r)
				}
			}
			rep := &report.CheckReport{SchemaVersion: "1", Tool: sbom.Tool{Name: "bulwark", Version: Version()},
				Results: kept, Checks: imgChecks, Summary: report.SummarizeChecks(kept)}
			if err := writeOutput(e, output, func(w io.Writer) error { return report.WriteChecks(w, format, rep) }); err != nil {
				return err
			}
			if exitCode != 0 && checks.Failing(kept, min) > 0 {
				return exitError{code: exitCode}
			}
			return nil
		},
	}
	flags.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.CheckFormats, ", "))
	fl.StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&minSev, "severity", "LOW", "report checks at or above this severity")
	fl.IntVar(&exitCode, "exit-code", 0, "exit with this code when a reported check fails (0: report only)")
	return cmd
}
