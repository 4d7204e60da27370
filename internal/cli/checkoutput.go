package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

// checkOutput holds the flags that say how check, check image and check
// docker report, so the three commands filter, write and exit alike.
type checkOutput struct {
	format, output, minSev string
	exitCode               int
	min                    severity.Level
}

func (o *checkOutput) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&o.format, "format", "f", "table", "output format: "+strings.Join(report.CheckFormats, ", "))
	fl.StringVarP(&o.output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&o.minSev, "severity", "LOW", "report checks at or above this severity")
	fl.IntVar(&o.exitCode, "exit-code", 0, "exit with this code when a reported check fails (0: report only)")
}

// validate runs before any work, so a typo costs nothing.
func (o *checkOutput) validate() error {
	if !slices.Contains(report.CheckFormats, o.format) {
		return fmt.Errorf("--format %q: want one of %s", o.format, strings.Join(report.CheckFormats, ", "))
	}
	if o.exitCode == ExitError || o.exitCode < 0 || o.exitCode > 125 {
		return fmt.Errorf("--exit-code %d: use 1 or 3-125; 2 is reserved for errors", o.exitCode)
	}
	min, err := severity.Parse(o.minSev)
	if err != nil {
		return fmt.Errorf("--severity: %w", err)
	}
	o.min = min
	return nil
}

// write reports the results at or above --severity and applies
// --exit-code. Passes are kept so the denominator stays visible.
func (o *checkOutput) write(e *env, rep *report.CheckReport) error {
	kept := rep.Results[:0]
	for _, r := range rep.Results {
		if r.Severity >= o.min {
			kept = append(kept, r)
		}
	}
	rep.SchemaVersion, rep.Tool = "1", sbom.Tool{Name: "bulwark", Version: Version()}
	rep.Results, rep.Summary = kept, report.SummarizeChecks(kept)
	if err := writeOutput(e, o.output, func(w io.Writer) error { return report.WriteChecks(w, o.format, rep) }); err != nil {
		return err
	}
	if o.exitCode != 0 && checks.Failing(kept, o.min) > 0 {
		return exitError{code: o.exitCode}
	}
	return nil
}

// checksFor returns the built-in checks of one target (image, docker),
// the denominator of the commands that check only that target.
func checksFor(target string) ([]*checks.Check, error) {
	all, err := checks.All()
	if err != nil {
		return nil, err
	}
	var out []*checks.Check
	for _, c := range all {
		if c.Target == target {
			out = append(out, c)
		}
	}
	return out, nil
}
