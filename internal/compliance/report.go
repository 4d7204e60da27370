package compliance

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Report is a framework's assessment: every control's state and
// evidence, the score, and the inputs it was computed from.
type Report struct {
	Framework struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
		File    string `json:"file,omitempty"`
	} `json:"framework"`
	// Generated is the assessment's time: given, so that the same
	// inputs give the same bytes.
	Generated time.Time `json:"generated"`
	Tool      string    `json:"tool"`
	Inputs    []Input   `json:"inputs"`
	Score     Score     `json:"score"`
	// Trend is the score of earlier assessments of the framework (given
	// as their JSON reports), oldest first, then this one's.
	Trend    []Point         `json:"trend,omitempty"`
	Controls []ControlResult `json:"controls"`
}

// Point is one assessment's score, for the trend.
type Point struct {
	Generated time.Time `json:"generated"`
	Score     Score     `json:"score"`
	// Failing are the controls that failed then.
	Failing []string `json:"failing"`
}

// WithTrend sets the trend from earlier JSON reports of the same
// framework: each must be a report of it (by ID), older than this one,
// and at most one per time.
func (r *Report) WithTrend(files []string) error {
	var pts []Point
	seen := map[time.Time]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("--previous: %w", err)
		}
		var old Report
		if err := json.Unmarshal(b, &old); err != nil || old.Framework.ID == "" || old.Generated.IsZero() {
			return fmt.Errorf("--previous %s: not a bulwark compliance report (report compliance --format json)", f)
		}
		switch {
		case old.Framework.ID != r.Framework.ID:
			return fmt.Errorf("--previous %s: a report of %s, not of %s", f, old.Framework.ID, r.Framework.ID)
		case !old.Generated.Before(r.Generated):
			return fmt.Errorf("--previous %s: made %s, not before this report (%s)", f, old.Generated.Format(time.RFC3339), r.Generated.Format(time.RFC3339))
		case seen[old.Generated] != "":
			return fmt.Errorf("--previous %s: made at the same time as %s", f, seen[old.Generated])
		}
		seen[old.Generated] = f
		pts = append(pts, point(&old))
	}
	if len(pts) == 0 {
		return nil
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Generated.Before(pts[j].Generated) })
	r.Trend = append(pts, point(r))
	return nil
}

func point(r *Report) Point {
	p := Point{Generated: r.Generated.UTC(), Score: r.Score, Failing: []string{}}
	for _, c := range r.Controls {
		if c.State == Fail {
			p.Failing = append(p.Failing, c.ID)
		}
	}
	return p
}

// NewReport assesses fw from ev at the given time.
func NewReport(fw *Framework, ev *EvidenceSet, at time.Time, tool string) *Report {
	r := &Report{Generated: at.UTC(), Tool: tool, Inputs: append([]Input{}, ev.Inputs...)}
	r.Framework.ID, r.Framework.Name, r.Framework.Version, r.Framework.File = fw.ID, fw.Name, fw.Version, fw.File
	r.Controls, r.Score = Assess(fw, ev)
	return r
}

// WriteJSON writes the report as JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteCSV writes one row per piece of evidence (one per control
// without any), for spreadsheets.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"control", "title", "state", "source", "evidence", "status", "object", "message", "input"})
	for _, c := range r.Controls {
		if len(c.all) == 0 {
			cw.Write([]string{c.ID, c.Title, string(c.State), "", "", "", "", "", ""})
			continue
		}
		for _, e := range c.all {
			cw.Write([]string{c.ID, c.Title, string(c.State), e.Source, e.ID, string(e.Status), e.Object, e.Message, e.Input})
		}
	}
	cw.Flush()
	return cw.Error()
}

var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"count": func(ev []Evidence, st State) int {
		n := 0
		for _, e := range ev {
			if e.Status == st {
				n++
			}
		}
		return n
	},
	"time": func(t time.Time) string { return t.Format("2006-01-02 15:04 MST") },
	"join": strings.Join,
	"passes": func(t []Tally) int {
		n := 0
		for _, x := range t {
			n += x.Count
		}
		return n
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Framework.Name}} — compliance assessment</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;color:#1b1f24;margin:2em auto;max-width:70em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}.state{font-weight:600;text-transform:uppercase;font-size:.85em;white-space:nowrap}
.pass{color:#1a7f37}.fail{color:#cf222e}.manual{color:#9a6700}.not-applicable{color:#57606a}
.score{display:flex;gap:1.5em;font-size:1.1em}.score b{font-size:1.6em;display:block}
code{font-size:.9em;word-break:break-all}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}a{color:inherit;text-decoration:none}}
</style></head><body>
<h1>{{.Framework.Name}}{{if .Framework.Version}} {{.Framework.Version}}{{end}}</h1>
<p>Compliance assessment by {{.Tool}}, {{time .Generated}}.</p>
<div class="score">
<div><b>{{.Score.Percent}}%</b>of judged controls pass</div>
<div class="pass"><b>{{.Score.Pass}}</b>pass</div>
<div class="fail"><b>{{.Score.Fail}}</b>fail</div>
<div class="manual"><b>{{.Score.Manual}}</b>manual</div>
<div class="not-applicable"><b>{{.Score.NotApplicable}}</b>not applicable</div>
</div>
{{if .Trend}}<h2>Trend</h2>
<table><tr><th>Assessed</th><th>Score</th><th>Pass</th><th>Fail</th><th>Manual</th><th>Not applicable</th><th>Failing controls</th></tr>
{{range .Trend}}<tr><td>{{time .Generated}}</td><td>{{.Score.Percent}}%</td><td class="pass">{{.Score.Pass}}</td><td class="fail">{{.Score.Fail}}</td><td class="manual">{{.Score.Manual}}</td><td class="not-applicable">{{.Score.NotApplicable}}</td><td>{{join .Failing ", "}}</td></tr>
{{end}}</table>
{{end}}<h2>Controls</h2>
<table><tr><th>Control</th><th>Title</th><th>State</th><th>Evidence</th></tr>
{{range .Controls}}<tr><td><a href="#c-{{.ID}}">{{.ID}}</a></td><td>{{.Title}}</td><td class="state {{.State}}">{{.State}}</td><td>{{if or .Evidence .Passed}}{{passes .Passed}} pass, {{count .Evidence "fail"}} fail{{else if .Checks}}nothing of this kind was judged{{else}}no automated evidence: a person assesses it{{end}}</td></tr>
{{end}}</table>
<h2>Inputs</h2>
<table><tr><th>File</th><th>Kind</th><th>SHA-256</th></tr>
{{range .Inputs}}<tr><td>{{.File}}</td><td>{{.Kind}}</td><td><code>{{.SHA256}}</code></td></tr>
{{end}}</table>
<h2>Evidence</h2>
{{range .Controls}}{{if or .Evidence .Passed}}<h3 id="c-{{.ID}}">{{.ID}} {{.Title}} — <span class="state {{.State}}">{{.State}}</span></h3>
<table><tr><th>Source</th><th>Check</th><th>Status</th><th>Object</th><th>Message</th></tr>
{{range .Evidence}}<tr><td>{{.Source}}</td><td>{{.ID}}</td><td class="state {{.Status}}">{{.Status}}</td><td>{{.Object}}</td><td>{{.Message}}</td></tr>
{{end}}{{range .Passed}}<tr><td>{{.Source}}</td><td>{{.ID}}</td><td class="state pass">pass</td><td colspan="2">{{.Count}} results (each one is in the CSV report)</td></tr>
{{end}}</table>{{end}}{{end}}
</body></html>
`))

// WriteHTML writes a self-contained page (no scripts, no external
// resources) that reads well printed: the score, the controls, the
// inputs and an evidence appendix (every result that did not pass, the
// passes counted by check).
func WriteHTML(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	if err := htmlReport.Execute(bw, r); err != nil {
		return err
	}
	return bw.Flush()
}

// namespace makes the OSCAL UUIDs: the same report, the same UUIDs.
var namespace = uuid.MustParse("6f0b8f7c-8f3a-4f57-9b2a-2b5f4f0e6a10")

func id(parts ...string) string {
	return uuid.NewSHA1(namespace, []byte(strings.Join(parts, "\x00"))).String()
}

// oscalControl is a control's OSCAL token: NIST's IDs in OSCAL's form
// (ac-2.1); other frameworks' numbers (5.13) prefixed with the
// framework's ID, as a token must start with a letter.
func (r *Report) oscalControl(cid string) string {
	t := toOSCAL(cid)
	if t == "" || t[0] < 'a' || t[0] > 'z' {
		t = r.Framework.ID + "-" + t
	}
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, t)
}

// WriteOSCAL writes an OSCAL assessment-results document: one result
// with the controls reviewed, an observation per judged control (its
// evidence and the inputs, hashed) and a finding per passed or failed
// control (satisfied or not-satisfied), as FedRAMP tooling reads it.
func WriteOSCAL(w io.Writer, r *Report) error {
	at := r.Generated.Format(time.RFC3339)
	seed := r.Framework.ID + at
	for _, in := range r.Inputs {
		seed += in.SHA256
	}
	type obj = map[string]any
	include, observations, findings := []obj{}, []obj{}, []obj{}
	var unjudged []string
	for _, c := range r.Controls {
		cid := r.oscalControl(c.ID)
		include = append(include, obj{"control-id": cid})
		if c.State != Pass && c.State != Fail {
			unjudged = append(unjudged, c.ID+" "+string(c.State))
			continue
		}
		var lines []string
		for _, p := range c.Passed {
			lines = append(lines, fmt.Sprintf("- %s %s: pass, %d results", p.Source, p.ID, p.Count))
		}
		for _, e := range c.Evidence {
			l := fmt.Sprintf("- %s %s: %s", e.Source, e.ID, e.Status)
			if e.Object != "" {
				l += " — " + e.Object
			}
			if e.Message != "" {
				l += ": " + e.Message
			}
			lines = append(lines, l)
		}
		var evidence []obj
		for _, in := range r.Inputs {
			evidence = append(evidence, obj{"href": in.File, "description": in.Kind + " sha256:" + in.SHA256})
		}
		oid := id(seed, "observation", c.ID)
		observations = append(observations, obj{
			"uuid": oid, "title": c.ID + " " + c.Title,
			"description": fmt.Sprintf("%d results from %s for %s.", len(c.all), r.Tool, c.ID),
			"methods":     []string{"TEST"}, "types": []string{"finding"}, "collected": at,
			"relevant-evidence": evidence, "remarks": strings.Join(lines, "\n"),
		})
		state := "satisfied"
		if c.State == Fail {
			state = "not-satisfied"
		}
		findings = append(findings, obj{
			"uuid": id(seed, "finding", c.ID), "title": c.ID + " " + c.Title,
			"description":          fmt.Sprintf("%s is %s by %s's automated evidence.", c.ID, map[State]string{Pass: "met", Fail: "not met"}[c.State], r.Tool),
			"target":               obj{"type": "objective-id", "target-id": cid + "_obj", "status": obj{"state": state}},
			"related-observations": []obj{{"observation-uuid": oid}},
		})
	}
	result := obj{
		"uuid": id(seed, "result"), "title": "Automated assessment: " + r.Framework.Name,
		"description": fmt.Sprintf("%s judged %d controls: %d pass, %d fail, %d manual, %d not applicable.",
			r.Tool, len(r.Controls), r.Score.Pass, r.Score.Fail, r.Score.Manual, r.Score.NotApplicable),
		"start": at, "end": at,
		"reviewed-controls": obj{"control-selections": []obj{{"include-controls": include}}},
		"observations":      observations, "findings": findings,
	}
	if len(unjudged) > 0 {
		result["remarks"] = "Not judged automatically (a person assesses them):\n" + strings.Join(unjudged, "\n")
	}
	doc := obj{"assessment-results": obj{
		"uuid": id(seed, "assessment-results"),
		"metadata": obj{"title": r.Framework.Name + " — automated assessment results", "last-modified": at,
			"version": strconv.Itoa(1), "oscal-version": "1.1.2"},
		"import-ap": obj{"href": "#assessment-plan-" + r.Framework.ID},
		"results":   []obj{result},
	}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}
