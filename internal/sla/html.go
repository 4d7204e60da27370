package sla

import (
	"bufio"
	"html/template"
	"io"
	"time"
)

var htmlReport = template.Must(template.New("sla").Funcs(template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 MST")
	},
	"hours": hours,
	"state": func(st State, m map[State]int) int { return m[st] },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Patch clocks — {{time .At}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;color:#1b1f24;margin:2em auto;max-width:80em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f6f8fa}.state{font-weight:600;text-transform:uppercase;font-size:.85em;white-space:nowrap}
.breached,.late{color:#cf222e}.warning,.no-fix{color:#9a6700}.open{color:#0969da}.met{color:#1a7f37}
.score{display:flex;gap:1.5em;font-size:1.1em}.score b{font-size:1.6em;display:block}
code{font-size:.9em;word-break:break-all}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}}
</style></head><body>
<h1>Patch clocks</h1>
<p>As of {{time .At}}: {{len .Clocks}} clocks, one per repository and vulnerability.</p>
<div class="score">
<div class="breached"><b>{{state "breached" .Summary.States}}</b>breached</div>
<div class="warning"><b>{{state "warning" .Summary.States}}</b>warning</div>
<div class="open"><b>{{state "open" .Summary.States}}</b>open</div>
<div class="no-fix"><b>{{state "no-fix" .Summary.States}}</b>no fix yet</div>
<div class="late"><b>{{state "late" .Summary.States}}</b>late</div>
<div class="met"><b>{{state "met" .Summary.States}}</b>met</div>
</div>
{{if .Summary.MTTR}}<h2>Mean time to remediate</h2>
<table><tr><th>Project</th><th>Severity</th><th>Remediated</th><th>Late</th><th>Mean</th></tr>
{{range .Summary.MTTR}}<tr><td>{{.Project}}</td><td>{{.Severity}}</td><td>{{.Stopped}}</td><td>{{.Late}}</td><td>{{hours .Mean}}</td></tr>
{{end}}</table>
{{end}}<h2>Clocks</h2>
<table><tr><th>State</th><th>Repository</th><th>Vulnerability</th><th>Package</th><th>Severity</th><th>Fixed in</th><th>Start</th><th>Due</th><th>Stopped</th><th>Still in</th></tr>
{{range .Clocks}}<tr><td class="state {{.State}}">{{.State}}</td><td>{{.Repo}}</td><td>{{.Advisory}}</td><td>{{.Package}}</td><td>{{.Severity}}</td><td>{{or .Fixed "—"}}</td><td>{{time .Start}}</td><td>{{time .Due}}</td><td>{{time .Stopped}}</td><td>{{range .Tags}}<code>{{.}}</code> {{end}}{{range .Workloads}}<code>{{.}}</code> {{end}}</td></tr>
{{end}}</table>
</body></html>
`))

// WriteHTML writes a self-contained page (no scripts, no external
// resources) that reads well printed: the totals, the mean time to
// remediate, and the clocks (all of them unless running only), with the
// tags and workloads that still carry each finding.
func (r Report) WriteHTML(w io.Writer, all bool) error {
	if !all {
		var running []Clock
		for _, c := range r.Clocks {
			if c.State != Met && c.State != Late {
				running = append(running, c)
			}
		}
		r.Clocks = running
	}
	bw := bufio.NewWriter(w)
	if err := htmlReport.Execute(bw, r); err != nil {
		return err
	}
	return bw.Flush()
}
