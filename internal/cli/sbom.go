package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/report"
)

func newSBOMCommand(e *env) *cobra.Command {
	var (
		flags  imageFlags
		format string
		output string
	)
	cmd := &cobra.Command{
		Use:   "sbom REF",
		Short: "List the software in an image or root filesystem (CycloneDX, SPDX, JSON, table)",
		Long: `List every OS and language package of an image or root filesystem.

REF is one of:
  REGISTRY/REPO[:TAG|@DIGEST]   an image in a registry (credentials from ~/.docker/config.json)
  oci:DIR[:TAG]                 an OCI image layout
  oci-archive:FILE[:TAG]        an OCI image layout tarball
  docker-archive:FILE[:TAG]     a 'docker save' tarball (a bare FILE.tar is detected)
  docker:NAME                   an image in the local Docker Engine
  dir:PATH                      a root filesystem`,
		Example: `  bulwark sbom alpine:3.20
  bulwark sbom docker-archive:image.tar --format cyclonedx --output sbom.cdx.json
  bulwark sbom dir:/ --format spdx`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(report.SBOMFormats, format) {
				return fmt.Errorf("--format %q: want one of %s", format, strings.Join(report.SBOMFormats, ", "))
			}
			res, err := flags.scan(cmd.Context(), e, args[0])
			if err != nil {
				return err
			}
			opts := report.SBOMOptions{Timestamp: documentTime(e, res.Doc)}
			return writeOutput(e, output, func(w io.Writer) error {
				return report.WriteSBOM(w, format, res.Doc, opts)
			})
		},
	}
	flags.register(cmd)
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: "+strings.Join(report.SBOMFormats, ", "))
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	return cmd
}
