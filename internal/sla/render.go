package sla

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what `bulwark report sla` writes: the clocks at a time, and
// their totals.
type Report struct {
	At      time.Time `json:"at"`
	Summary Summary   `json:"summary"`
	Clocks  []Clock   `json:"clocks"`
}

// NewReport is the report of the clocks at now.
func NewReport(now time.Time, clocks []Clock) Report {
	return Report{At: now.UTC(), Summary: Summarize(clocks), Clocks: clocks}
}

var csvHeader = []string{"state", "repository", "vulnerability", "package", "severity", "fixed_version", "start", "due", "stopped", "hours", "digests", "tags", "workloads"}

// WriteCSV writes one row a clock, times in RFC 3339 (UTC).
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, c := range r.Clocks {
		cw.Write([]string{string(c.State), c.Repo, c.Advisory, c.Package, c.Severity.String(), c.Fixed,
			stamp(c.Start), stamp(c.Due), stamp(c.Stopped), fmt.Sprintf("%.1f", c.Elapsed(r.At).Hours()),
			strings.Join(c.Digests, " "), strings.Join(c.Tags, " "), strings.Join(c.Workloads, " ")})
	}
	cw.Flush()
	return cw.Error()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// WriteTable writes the clocks a person reads first (breached, warning,
// open, no fix yet) and the totals; stopped clocks count in the totals
// and the mean time to remediate.
func (r Report) WriteTable(w io.Writer, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tREPOSITORY\tVULNERABILITY\tPACKAGE\tSEVERITY\tFIXED IN\tDUE\tELAPSED")
	for _, c := range r.Clocks {
		if !all && (c.State == Met || c.State == Late) {
			continue
		}
		due := "-"
		if !c.Due.IsZero() {
			due = c.Due.UTC().Format("2006-01-02 15:04")
			if c.Stopped.IsZero() {
				if left := c.Due.Sub(r.At); left > 0 {
					due += fmt.Sprintf(" (in %s)", hours(left))
				} else {
					due += fmt.Sprintf(" (%s ago)", hours(-left))
				}
			}
		}
		fixed := c.Fixed
		if fixed == "" {
			fixed = "-"
		}
		elapsed := "-"
		if !c.Start.IsZero() {
			elapsed = hours(c.Elapsed(r.At))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.State, c.Repo, c.Advisory, c.Package, c.Severity, fixed, due, elapsed)
	}
	tw.Flush()
	s := r.Summary.States
	fmt.Fprintf(w, "\n%d clocks: %d breached, %d warning, %d open, %d no fix yet, %d met, %d late\n",
		len(r.Clocks), s[Breached], s[Warning], s[Open], s[NoFix], s[Met], s[Late])
	if len(r.Summary.MTTR) > 0 {
		fmt.Fprintln(w, "\nmean time to remediate:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROJECT\tSEVERITY\tREMEDIATED\tLATE\tMEAN")
		for _, m := range r.Summary.MTTR {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", m.Project, m.Severity, m.Stopped, m.Late, hours(m.Mean))
		}
		tw.Flush()
	}
	return nil
}

func hours(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
	return fmt.Sprintf("%.1fh", d.Hours())
}
