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
	format, output, sevFlag string
	exitCode                int
	sel                     []severity.Level
	// notice is printed before the report when the flag used an old
	// spelling.
	notice string
}

func (o *checkOutput) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&o.format, "format", "f", "table", "output format: "+strings.Join(report.CheckFormats, ", "))
	fl.StringVarP(&o.output, "output", "o", "", "write to this file instead of standard output")
	fl.StringVar(&o.sevFlag, "severity", "", "report only these severities: a comma list (CRITICAL,HIGH) or a level and above (HIGH+); default all")
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
	flag := strings.TrimSpace(o.sevFlag)
	if l, err := severity.Parse(flag); err == nil && flag != "" && l != severity.Critical {
		// A single level used to mean "this and above" here. Reading it as
		// Trivy does (only this level) would quietly stop gating on
		// CRITICAL, so it keeps its old meaning, with a notice.
		o.notice = fmt.Sprintf("--severity %s means %s and above for check commands; write %s+ (or a list such as %s) to say so: a bare level will mean only that level, as in scan and Trivy, in a later release", flag, l, l, strings.Join(levelNames(severity.AtOrAbove(l)), ","))
		flag += "+"
	}
	sel, err := severity.ParseSelection(flag)
	if err != nil {
		return fmt.Errorf("--severity: %w", err)
	}
	o.sel = sel
	return nil
}

func levelNames(ls []severity.Level) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}

// write reports the results --severity selects and applies --exit-code.
// Passes are kept so the denominator stays visible. Unreadable inputs
// (BW-INP-001) are reported and counted whatever --severity says: what
// could not be read may hide a failure of any severity.
func (o *checkOutput) write(e *env, rep *report.CheckReport) error {
	if o.notice != "" {
		fmt.Fprintln(e.stderr, "bulwark: "+o.notice)
	}
	keep := func(r checks.Result) bool {
		return severity.Selected(o.sel, r.Severity) || r.CheckID == checks.UnreadableID
	}
	kept := rep.Results[:0]
	for _, r := range rep.Results {
		if keep(r) {
			kept = append(kept, r)
		}
	}
	rep.SchemaVersion, rep.Tool = "1", sbom.Tool{Name: "bulwark", Version: Version()}
	rep.Results, rep.Summary = kept, report.SummarizeChecks(kept)
	if err := writeOutput(e, o.output, func(w io.Writer) error { return report.WriteChecks(w, o.format, rep) }); err != nil {
		return err
	}
	if o.exitCode != 0 && checks.Failing(kept) > 0 {
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
