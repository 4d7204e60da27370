package kubebench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// TextOptions shape the text report.
type TextOptions struct {
	Color bool
	// IncludeTestOutput prints the audit output under each FAIL, as
	// kube-bench's --include-test-output does.
	IncludeTestOutput bool
}

var stateColors = map[State]string{Pass: "\033[32m", Fail: "\033[31m", Warn: "\033[33m", Info: "\033[34m"}

// WriteText writes the report as kube-bench prints it: each target's
// checks, its remediations, its summary, then the total.
func WriteText(w io.Writer, rep *Report, o TextOptions) error {
	bw := bufio.NewWriter(w)
	paint := func(s State, text string) string {
		if o.Color {
			return stateColors[s] + text + "\033[0m"
		}
		return text
	}
	tag := func(s State) string { return paint(s, "["+string(s)+"]") + " " }
	summary := func(s Summary, name string) {
		worst := Pass
		if s.Fail > 0 {
			worst = Fail
		} else if s.Warn > 0 {
			worst = Warn
		}
		fmt.Fprintf(bw, "%s\n%d checks PASS\n%d checks FAIL\n%d checks WARN\n%d checks INFO\n\n",
			paint(worst, "== Summary "+name+" =="), s.Pass, s.Fail, s.Warn, s.Info)
	}
	for _, c := range rep.Controls {
		fmt.Fprintf(bw, "%s%s %s\n", tag(Info), c.ID, c.Text)
		for _, g := range c.Groups {
			fmt.Fprintf(bw, "%s%s %s\n", tag(Info), g.ID, g.Text)
			for _, r := range g.Results {
				fmt.Fprintf(bw, "%s%s %s\n", tag(r.State), r.ID, r.Text)
				if o.IncludeTestOutput && r.State == Fail && r.ActualValue != "" {
					for _, row := range strings.Split(r.ActualValue, "\n") {
						fmt.Fprintf(bw, "\t %s\n", row)
					}
				}
			}
		}
		fmt.Fprintln(bw)
		if c.Fail > 0 || c.Warn > 0 {
			fmt.Fprintln(bw, paint(Warn, "== Remediations "+c.Type+" =="))
			for _, g := range c.Groups {
				for _, r := range g.Results {
					switch {
					case r.State == Fail:
						fmt.Fprintf(bw, "%s %s\n", r.ID, r.Remediation)
					case r.State == Warn && r.Reason != "" && r.Type != "manual":
						fmt.Fprintf(bw, "%s audit test did not run: %s\n", r.ID, r.Reason)
					case r.State == Warn:
						fmt.Fprintf(bw, "%s %s\n", r.ID, r.Remediation)
					}
				}
			}
			fmt.Fprintln(bw)
		}
		summary(c.Summary, c.Type)
	}
	summary(rep.Totals, "total")
	return bw.Flush()
}

// The JSON report is kube-bench's --json: {"Controls": [...], "Totals": {...}}.
type jsonReport struct {
	Controls []jsonControls `json:"Controls"`
	Totals   jsonSummary    `json:"Totals"`
}

type jsonSummary struct {
	Pass int `json:"total_pass"`
	Fail int `json:"total_fail"`
	Warn int `json:"total_warn"`
	Info int `json:"total_info"`
}

type jsonControls struct {
	ID       string      `json:"id"`
	Version  string      `json:"version"`
	Detected string      `json:"detected_version,omitempty"`
	Text     string      `json:"text"`
	NodeType string      `json:"node_type"`
	Tests    []jsonGroup `json:"tests"`
	jsonSummary
}

type jsonGroup struct {
	Section string       `json:"section"`
	Type    string       `json:"type"`
	Pass    int          `json:"pass"`
	Fail    int          `json:"fail"`
	Warn    int          `json:"warn"`
	Info    int          `json:"info"`
	Desc    string       `json:"desc"`
	Results []jsonResult `json:"results"`
}

type jsonResult struct {
	Number      string   `json:"test_number"`
	Desc        string   `json:"test_desc"`
	Audit       string   `json:"audit"`
	AuditEnv    string   `json:"AuditEnv"`
	AuditConfig string   `json:"AuditConfig"`
	Type        string   `json:"type"`
	Remediation string   `json:"remediation"`
	TestInfo    []string `json:"test_info"`
	Status      State    `json:"status"`
	Actual      string   `json:"actual_value"`
	Scored      bool     `json:"scored"`
	IsMultiple  bool     `json:"IsMultiple"`
	Expected    string   `json:"expected_result"`
	Reason      string   `json:"reason,omitempty"`
}

func sum(s Summary) jsonSummary { return jsonSummary(s) }

// WriteJSON writes the report as kube-bench's --json does.
func WriteJSON(w io.Writer, rep *Report) error {
	out := jsonReport{Totals: sum(rep.Totals), Controls: []jsonControls{}}
	for _, c := range rep.Controls {
		jc := jsonControls{ID: c.ID, Version: c.Version, Detected: rep.Benchmark, Text: c.Text, NodeType: c.Type, jsonSummary: sum(c.Summary), Tests: []jsonGroup{}}
		for _, g := range c.Groups {
			jg := jsonGroup{Section: g.ID, Type: g.Type, Pass: g.Pass, Fail: g.Fail, Warn: g.Warn, Info: g.Info, Desc: g.Text}
			for _, r := range g.Results {
				jg.Results = append(jg.Results, jsonResult{Number: r.ID, Desc: r.Text, Audit: r.Audit, AuditEnv: r.AuditEnv, AuditConfig: r.AuditConfig,
					Type: r.Type, Remediation: r.Remediation, TestInfo: []string{r.Remediation}, Status: r.State, Actual: r.ActualValue,
					Scored: r.Scored, IsMultiple: r.UseMultipleValues, Expected: r.ExpectedResult, Reason: r.Reason})
			}
			jc.Tests = append(jc.Tests, jg)
		}
		out.Controls = append(out.Controls, jc)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
