package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/sbom"
)

// CheckFormats lists the formats `bulwark check` writes.
var CheckFormats = []string{"table", "json", "sarif", "junit"}

// CheckReport is the outcome of a configuration check run. Its JSON form
// is bulwark's check output (schemaVersion 1).
type CheckReport struct {
	SchemaVersion string             `json:"schemaVersion"`
	Tool          sbom.Tool          `json:"tool"`
	Summary       CheckSummary       `json:"summary"`
	Results       []checks.Result    `json:"results"`
	LoadErrors    []checks.LoadError `json:"loadErrors,omitempty"`
	Warnings      []string           `json:"warnings,omitempty"`
	Checks        []*checks.Check    `json:"-"`
}

// CheckSummary counts results.
type CheckSummary struct {
	Objects  int            `json:"objects"`
	Passed   int            `json:"passed"`
	Failed   int            `json:"failed"`
	Excepted int            `json:"excepted"`
	Failing  map[string]int `json:"failedBySeverity"`
}

// SummarizeChecks counts passes, failures and exceptions.
func SummarizeChecks(rs []checks.Result) CheckSummary {
	s := CheckSummary{Failing: map[string]int{}}
	objs := map[string]bool{}
	for _, r := range rs {
		objs[r.Object.File+"\x00"+r.Object.Kind+"\x00"+r.Object.Namespace+"\x00"+r.Object.Name] = true
		switch r.Status {
		case "pass":
			s.Passed++
		case "fail":
			s.Failed++
			s.Failing[r.Severity.String()]++
		case "excepted":
			s.Excepted++
		}
	}
	s.Objects = len(objs)
	return s
}

// WriteChecks renders a check run in format.
func WriteChecks(w io.Writer, format string, r *CheckReport) error {
	switch format {
	case "json":
		return writeJSON(w, r)
	case "table":
		return checkTable(w, r)
	case "sarif":
		return writeJSON(w, checkSARIF(r))
	case "junit":
		return checkJUnit(w, r)
	}
	return fmt.Errorf("unknown check format %q (want one of %s)", format, strings.Join(CheckFormats, ", "))
}

func objName(o checks.ObjectRef) string {
	switch {
	case o.Kind == "Dockerfile" || o.Kind == "ComposeFile":
		return o.Kind
	case o.Namespace != "":
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	}
	return o.Kind + " " + o.Name
}

func checkTable(w io.Writer, r *CheckReport) error {
	type group struct {
		obj   checks.ObjectRef
		fails []checks.Result
		pass  int
	}
	var order []string
	groups := map[string]*group{}
	for _, res := range r.Results {
		k := res.Object.File + "\x00" + fmt.Sprint(res.Object.Line) + "\x00" + objName(res.Object)
		g := groups[k]
		if g == nil {
			g = &group{obj: res.Object}
			groups[k] = g
			order = append(order, k)
		}
		if res.Status == "fail" {
			g.fails = append(g.fails, res)
		} else {
			g.pass++
		}
	}
	for _, k := range order {
		g := groups[k]
		if len(g.fails) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s:%d  %s\n", g.obj.File, g.obj.Line, objName(g.obj))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		sort.SliceStable(g.fails, func(i, j int) bool { return g.fails[i].Severity > g.fails[j].Severity })
		for _, f := range g.fails {
			fmt.Fprintf(tw, "  %s\t%s\tline %d\t%s\n", f.Severity, f.CheckID, f.Line, f.Message)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	s := r.Summary
	fmt.Fprintf(w, "%d objects: %d passed, %d failed (CRITICAL %d, HIGH %d, MEDIUM %d, LOW %d), %d excepted\n",
		s.Objects, s.Passed, s.Failed, s.Failing["CRITICAL"], s.Failing["HIGH"], s.Failing["MEDIUM"], s.Failing["LOW"], s.Excepted)
	for _, e := range r.LoadErrors {
		fmt.Fprintf(w, "not checked: %s\n", e.Error())
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	return nil
}

func checkSARIF(r *CheckReport) *sarifLog {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: r.Tool.Name, Version: r.Tool.Version,
		InformationURI: "https://bulwark.dev", Rules: []sarifRule{}}}, Results: []sarifResult{}}
	index := map[string]int{}
	for _, c := range r.Checks {
		index[c.ID] = len(run.Tool.Driver.Rules)
		var refs []string
		for k, v := range c.References {
			refs = append(refs, k+": "+strings.Join(v, ", "))
		}
		sort.Strings(refs)
		md := fmt.Sprintf("**%s** (%s)\n\n%s\n\n**Fix:** %s", c.Title, c.Severity, c.Description, c.Remediation)
		if len(refs) > 0 {
			md += "\n\n**References:** " + strings.Join(refs, "; ")
		}
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID: c.ID, Name: strings.ReplaceAll(c.Title, " ", ""),
			ShortDescription: sarifText{Text: c.Title},
			FullDescription:  sarifText{Text: c.Description},
			HelpURI:          "https://bulwark.dev/docs/checks#" + strings.ToLower(c.ID),
			Help:             sarifHelp{Text: c.Description + " Fix: " + c.Remediation, Markdown: md},
			Properties: map[string]any{
				"security-severity": fmt.Sprintf("%.1f", securityScore(0, c.Severity)),
				"tags":              []string{"security", "configuration", c.Target},
			},
		})
	}
	for _, res := range r.Results {
		if res.Status == "pass" {
			continue
		}
		sr := sarifResult{RuleID: res.CheckID, RuleIndex: index[res.CheckID], Level: sarifLevel(res.Severity),
			Message: sarifText{Text: objName(res.Object) + ": " + res.Message},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: res.Object.File},
				Region: &sarifRegion{StartLine: max(res.Line, 1)}}}}}
		if res.Exception != nil {
			sr.Suppressions = []sarifSuppression{{Kind: "external", Justification: res.Exception.Source + ": " + res.Exception.Reason}}
			if strings.HasPrefix(res.Exception.Source, "annotation") {
				sr.Suppressions[0].Kind = "inSource"
			}
		}
		run.Results = append(run.Results, sr)
	}
	return &sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
}

// JUnit XML, as CI systems read it: a suite per file, a test case per
// check and object; failures fail the case, exceptions skip it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func checkJUnit(w io.Writer, r *CheckReport) error {
	suites := map[string]*junitSuite{}
	var names []string
	for _, res := range r.Results {
		s := suites[res.Object.File]
		if s == nil {
			s = &junitSuite{Name: res.Object.File}
			suites[res.Object.File] = s
			names = append(names, res.Object.File)
		}
		c := junitCase{Name: res.CheckID + " " + res.Title, ClassName: objName(res.Object), File: res.Object.File, Line: res.Line}
		switch res.Status {
		case "fail":
			c.Failure = &junitFailure{Message: res.Message, Type: res.Severity.String(), Text: fmt.Sprintf("%s:%d: %s", res.Object.File, res.Line, res.Message)}
			s.Failures++
		case "excepted":
			c.Skipped = &junitSkipped{Message: "excepted (" + res.Exception.Source + "): " + res.Exception.Reason}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	out := junitSuites{Name: "bulwark check"}
	for _, n := range names {
		s := suites[n]
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Skipped += s.Skipped
		out.Suites = append(out.Suites, *s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
