package netpol

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Formats are the output formats of an analysis.
var Formats = []string{"table", "json", "dot", "html"}

// Write renders the computed analysis in one of Formats.
func (a *Analysis) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return a.writeTable(w)
	case "json":
		return a.writeJSON(w)
	case "dot":
		return a.writeDOT(w)
	case "html":
		return a.writeHTML(w)
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

// pairs lists the connections that carry something, in matrix order.
func (a *Analysis) pairs() []Connection {
	var out []Connection
	n := len(a.Endpoints)
	for src := range n {
		for dst := range n {
			if id := a.connID(src, dst); id != connNone {
				out = append(out, Connection{From: a.Endpoints[src].ID, To: a.Endpoints[dst].ID, Allowed: a.conns.conns[id].String()})
			}
		}
	}
	return out
}

// Connection is one allowed flow in the JSON output.
type Connection struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Allowed string `json:"allowed"`
}

// Report is the JSON document.
type Report struct {
	SchemaVersion string       `json:"schemaVersion"`
	Endpoints     []*Endpoint  `json:"endpoints"`
	Policies      []*Policy    `json:"policies"`
	Connections   []Connection `json:"connections"`
	Warnings      []Warning    `json:"warnings"`
}

func (a *Analysis) writeJSON(w io.Writer) error {
	r := Report{SchemaVersion: "1", Endpoints: a.Endpoints, Policies: a.Policies, Connections: a.pairs(), Warnings: a.Warnings}
	if r.Policies == nil {
		r.Policies = []*Policy{}
	}
	if r.Warnings == nil {
		r.Warnings = []Warning{}
	}
	if r.Connections == nil {
		r.Connections = []Connection{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// matrixMax is the most endpoints the table shows as a matrix; past it
// a column per workload is unreadable, so each sender gets its lines.
const matrixMax = 30

// writeTable is the matrix (rows send, numbered columns receive) for a
// few endpoints, and for more a list per sender: each set of ports with
// the receivers it reaches.
func (a *Analysis) writeTable(w io.Writer) error {
	if len(a.Endpoints) > matrixMax {
		return a.writeList(w)
	}
	n := len(a.Endpoints)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "FROM \\ TO")
	for i := range n {
		fmt.Fprintf(tw, "\t%d", i+1)
	}
	fmt.Fprintln(tw)
	for src := range n {
		fmt.Fprintf(tw, "%d %s", src+1, a.Endpoints[src].ID)
		for dst := range n {
			cell := a.Conn(src, dst).Short()
			if src >= a.pods && dst >= a.pods {
				cell = ""
			}
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return a.writeSummary(w)
}

func (a *Analysis) writeList(w io.Writer) error {
	n := len(a.Endpoints)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM\tALLOWED\tTO")
	for src := range n {
		var order []int32
		to := map[int32][]string{}
		for dst := range n {
			id := a.connID(src, dst)
			if id == connNone {
				continue
			}
			if _, ok := to[id]; !ok {
				order = append(order, id)
			}
			to[id] = append(to[id], a.Endpoints[dst].ID)
		}
		from := a.Endpoints[src].ID
		if len(order) == 0 {
			fmt.Fprintf(tw, "%s\tnothing\t\n", from)
		}
		for _, id := range order {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", from, a.conns.conns[id].Short(), strings.Join(to[id], ", "))
			from = ""
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return a.writeSummary(w)
}

func (a *Analysis) writeSummary(w io.Writer) error {
	n := len(a.Endpoints)
	fmt.Fprintf(w, "\n%d workloads, %d address ranges outside the cluster, %d policies; \"all\" is every port and protocol, \"-\" nothing.\n", a.pods, n-a.pods, len(a.Policies))
	for _, wn := range a.Warnings {
		fmt.Fprintln(w, "warning:", wn)
	}
	return nil
}

func (a *Analysis) writeDOT(w io.Writer) error {
	fmt.Fprintln(w, "digraph reachability {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans-serif\"];")
	byNS := map[string][]int{}
	for i, e := range a.Endpoints {
		byNS[e.Namespace] = append(byNS[e.Namespace], i)
	}
	nss := make([]string, 0, len(byNS))
	for ns := range byNS {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for ci, ns := range nss {
		if ns != "" {
			fmt.Fprintf(w, "  subgraph cluster_%d {\n    label=%q;\n", ci, "namespace "+ns)
		}
		for _, i := range byNS[ns] {
			e := a.Endpoints[i]
			shape := ""
			if e.external {
				shape = ", shape=ellipse"
			}
			fmt.Fprintf(w, "    n%d [label=%q%s];\n", i, e.ID, shape)
		}
		if ns != "" {
			fmt.Fprintln(w, "  }")
		}
	}
	n := len(a.Endpoints)
	for src := range n {
		for dst := range n {
			if id := a.connID(src, dst); id != connNone {
				fmt.Fprintf(w, "  n%d -> n%d [label=%q];\n", src, dst, a.conns.conns[id].Short())
			}
		}
	}
	_, err := fmt.Fprintln(w, "}")
	return err
}

// writeHTML is one self-contained page: the matrix as an SVG grid, red
// where everything may flow, amber where some ports may, green where
// nothing may; each cell's tooltip lists the ports.
func (a *Analysis) writeHTML(w io.Writer) error {
	n := len(a.Endpoints)
	const cell, left, top = 22, 260, 260
	width, height := left+cell*n+20, top+cell*n+20
	var b strings.Builder
	fmt.Fprintf(&b, `<!DOCTYPE html><html><head><meta charset="utf-8"><title>bulwark reachability</title>
<style>body{font-family:sans-serif;margin:1em}text{font-size:11px}.legend span{display:inline-block;width:1em;height:1em;margin:0 .3em 0 1em;vertical-align:middle}</style></head><body>
<h1>Reachability</h1><p>%d workloads, %d address ranges outside the cluster, %d policies. Rows send, columns receive.</p>
<p class="legend"><span style="background:#e35d5d"></span>everything<span style="background:#f2c14e"></span>some ports<span style="background:#7fbf7f"></span>nothing</p>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">`, a.pods, n-a.pods, len(a.Policies), width, height)
	for i, e := range a.Endpoints {
		y := top + i*cell + cell*2/3
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-6, y, html.EscapeString(e.ID))
		x := left + i*cell + cell*2/3
		fmt.Fprintf(&b, `<text x="%d" y="%d" transform="rotate(-60 %d %d)">%s</text>`, x, top-6, x, top-6, html.EscapeString(e.ID))
	}
	for src := range n {
		for dst := range n {
			if src >= a.pods && dst >= a.pods {
				continue
			}
			c := a.Conn(src, dst)
			color := "#f2c14e"
			switch {
			case c.IsAll():
				color = "#e35d5d"
			case c.Empty():
				color = "#7fbf7f"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#fff"><title>%s → %s: %s</title></rect>`,
				left+dst*cell, top+src*cell, cell, cell, color, html.EscapeString(a.Endpoints[src].ID), html.EscapeString(a.Endpoints[dst].ID), html.EscapeString(c.String()))
		}
	}
	b.WriteString("</svg>")
	if len(a.Warnings) > 0 {
		b.WriteString("<h2>Warnings</h2><ul>")
		for _, wn := range a.Warnings {
			fmt.Fprintf(&b, "<li>%s</li>", html.EscapeString(wn.String()))
		}
		b.WriteString("</ul>")
	}
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteExplanation prints an explanation for a person.
func WriteExplanation(w io.Writer, x Explanation) error {
	fmt.Fprintf(w, "%s -> %s: %s\n", x.From, x.To, x.Allowed)
	for _, side := range []struct {
		title, allowed string
		steps          []Step
	}{{"egress of " + x.From, x.EgressAllowed, x.Egress}, {"ingress of " + x.To, x.IngressAllowed, x.Ingress}} {
		fmt.Fprintf(w, "\n%s allows %s\n", side.title, side.allowed)
		if len(side.steps) == 0 {
			fmt.Fprintln(w, "  outside the cluster: no policy applies")
		}
		for _, s := range side.steps {
			where := ""
			if s.File != "" {
				where = fmt.Sprintf(" (%s:%d)", s.File, s.Line)
			}
			r := ""
			if s.Rule >= 0 {
				r = fmt.Sprintf(" rule %d", s.Rule)
				if s.RuleName != "" {
					r += " " + s.RuleName
				}
			}
			fmt.Fprintf(w, "  %-6s %s%s%s: %s\n", s.Action, s.Policy, r, where, s.Ports)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
