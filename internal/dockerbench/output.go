package dockerbench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// BenchmarkVersion is the CIS Docker Benchmark version the checks are
// from, the value docker-bench-security writes as "dockerbenchsecurity".
const BenchmarkVersion = "1.6.0"

var colors = map[Status]string{Pass: "\033[1;32m", Warn: "\033[1;31m", Info: "\033[1;34m", Note: "\033[1;33m"}

const (
	yellow = "\033[1;33m"
	reset  = "\033[0m"
)

// TextOptions shape the text report.
type TextOptions struct {
	Color bool
	// Remediation adds docker-bench-security's "Section B": how to fix
	// every check that did not pass.
	Remediation bool
}

// WriteText writes the report as docker-bench-security writes its log
// (-l FILE), so the two compare line by line.
func WriteText(w io.Writer, rep *Report, o TextOptions) error {
	bw := bufio.NewWriter(w)
	tag := func(s Status) string {
		if o.Color {
			return colors[s] + "[" + string(s) + "]" + reset
		}
		return "[" + string(s) + "]"
	}
	title := func(s string) string {
		if o.Color {
			return yellow + s + reset
		}
		return s
	}
	fmt.Fprintf(bw, "Initializing %s\n\n\n%s\n", rep.Start.Format("2006-01-02T15:04:05-07:00"), title("Section A - Check results"))
	for _, r := range rep.Results {
		if r.Heading && r.ID != "" && !strings.Contains(r.ID, ".") {
			bw.WriteString("\n")
		}
		line := r.Desc
		if r.ID != "" && !r.NoID {
			line = r.ID + " - " + r.Desc
		}
		if r.Suffix != "" {
			line += " " + r.Suffix
		}
		fmt.Fprintf(bw, "%s %s\n", tag(r.Status), line)
		for _, l := range r.Lines {
			fmt.Fprintf(bw, "%s      %s\n", tag(l.Status), l.Text)
		}
	}
	if o.Remediation {
		fmt.Fprintf(bw, "\n\n%s\n", title("Section B - Remediation measures"))
		section := ""
		for _, r := range rep.Results {
			if r.Heading || r.Status == Pass || r.Remediation == "" {
				continue
			}
			if s := sectionOf(r.ID); s != section {
				section = s
				fmt.Fprintf(bw, "\n%s %s - %s\n", tag(Info), s, rep.Sections[s])
			}
			line := r.ID + " - " + r.Remediation
			if r.Impact != "" {
				line += " Remediation Impact: " + r.Impact
			}
			fmt.Fprintf(bw, "%s %s\n", tag(Info), line)
		}
	}
	fmt.Fprintf(bw, "\n\n%s\n\n%s Checks: %d\n%s Score: %d\n\n", title("Section C - Score"), tag(Info), rep.Checks, tag(Info), rep.Score)
	return bw.Flush()
}

// jsonLog is docker-bench-security's JSON log (-l FILE writes FILE.json).
type jsonLog struct {
	Version string        `json:"dockerbenchsecurity"`
	Tool    string        `json:"tool"`
	Source  string        `json:"source"`
	Start   int64         `json:"start"`
	Tests   []jsonSection `json:"tests"`
	Checks  int           `json:"checks"`
	Score   int           `json:"score"`
	End     int64         `json:"end"`
}

type jsonSection struct {
	ID      string       `json:"id"`
	Desc    string       `json:"desc"`
	Results []jsonResult `json:"results"`
}

type jsonResult struct {
	ID          string    `json:"id"`
	Desc        string    `json:"desc"`
	Result      Status    `json:"result"`
	Details     string    `json:"details,omitempty"`
	Items       *[]string `json:"items,omitempty"`
	Manual      string    `json:"manual,omitempty"`
	Remediation string    `json:"remediation,omitempty"`
	Impact      string    `json:"remediation-impact,omitempty"`
}

// WriteJSON writes the report in docker-bench-security's JSON log format,
// with the reason for every manual check added ("manual"); remediation
// is included for checks that did not pass when asked for (-p).
func WriteJSON(w io.Writer, rep *Report, remediation bool) error {
	out := jsonLog{Version: BenchmarkVersion, Tool: "bulwark", Source: rep.Source, Start: rep.Start.Unix(), End: rep.End.Unix(), Checks: rep.Checks, Score: rep.Score, Tests: []jsonSection{}}
	idx := map[string]int{}
	for _, r := range rep.Results {
		if r.Heading {
			if r.ID != "" && !strings.Contains(r.ID, ".") {
				idx[r.ID] = len(out.Tests)
				out.Tests = append(out.Tests, jsonSection{ID: r.ID, Desc: r.Desc, Results: []jsonResult{}})
			}
			continue
		}
		s := sectionOf(r.ID)
		i, ok := idx[s]
		if !ok {
			idx[s] = len(out.Tests)
			i = idx[s]
			out.Tests = append(out.Tests, jsonSection{ID: s, Desc: rep.Sections[s], Results: []jsonResult{}})
		}
		jr := jsonResult{ID: r.ID, Desc: r.Desc, Result: r.Status, Details: r.Details, Manual: r.Manual}
		if r.Items != nil {
			items := r.Items
			jr.Items = &items
		}
		if remediation && r.Status != Pass {
			jr.Remediation, jr.Impact = r.Remediation, r.Impact
		}
		out.Tests[i].Results = append(out.Tests[i].Results, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}
