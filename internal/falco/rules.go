// Package falco reads Falco's rules files as they are (rules, macros,
// lists, exceptions, append and override) and evaluates their conditions
// over the events bulwark's runtime sources produce. A rule whose
// condition uses a field or operator bulwark does not provide is reported
// as not evaluable, with the reason, and never runs on partial data; a
// broken item is a named error, and the rest of the file still loads.
package falco

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFile bounds a rules file.
const MaxFile = 16 << 20

// item is one entry of a rules file.
type item struct {
	Rule, Macro, List      string
	Condition, Output      string
	Desc                   string
	Priority               string
	Source                 string
	Tags                   []string
	Items                  []string
	Enabled                *bool
	Append                 bool
	Exceptions             []exception
	Override               map[string]string
	RequiredEngine         string `yaml:"required_engine_version"`
	RequiredPluginVersions any    `yaml:"required_plugin_versions"`
	line                   int
	file                   string
}

type exception struct {
	Name   string
	Fields any // a field or a list of fields
	Comps  any // an operator or a list of operators
	Values []any
}

// Rule is a loaded rule.
type Rule struct {
	Name      string   `json:"name"`
	Desc      string   `json:"desc,omitempty"`
	Priority  string   `json:"priority"`
	Tags      []string `json:"tags,omitempty"`
	Output    string   `json:"output"`
	Source    string   `json:"source"`
	Enabled   bool     `json:"enabled"`
	File      string   `json:"file"`
	Line      int      `json:"line"`
	Condition string   `json:"condition"`
	// Problem says why the rule cannot be evaluated ("" when it can).
	Problem string `json:"problem,omitempty"`

	cond compiled
}

// Evaluable says whether the rule runs.
func (r *Rule) Evaluable() bool { return r.cond != nil }

// Match evaluates the rule on an event; false when it is not evaluable
// or disabled.
func (r *Rule) Match(e Event) bool { return r.Enabled && r.cond != nil && r.cond.match(e) }

// Problem is a broken item of a rules file.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Item string `json:"item"`
	Err  string `json:"error"`
}

func (p Problem) Error() string { return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Item, p.Err) }

// Ruleset is rules files loaded in order (later files append to or
// override earlier ones, as with Falco's -r flags).
type Ruleset struct {
	Rules    []*Rule
	Problems []Problem
	// EngineVersion is the highest required_engine_version seen.
	EngineVersion string

	macros map[string]*item
	lists  map[string]*item
	rules  map[string]*item
	order  []string

	byType  map[string][]*Rule
	anyType []*Rule
}

// NewRuleset is an empty ruleset.
func NewRuleset() *Ruleset {
	return &Ruleset{macros: map[string]*item{}, lists: map[string]*item{}, rules: map[string]*item{}}
}

// Add reads one rules file. Errors in items are Problems; the error is
// for a file that is not a rules file at all.
func (rs *Ruleset) Add(file string, b []byte) error {
	if len(b) > MaxFile {
		return fmt.Errorf("%s: %d bytes is more than a rules file may hold (%d)", file, len(b), MaxFile)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: not YAML: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s:%d: a rules file is a list of rules, macros and lists", file, top.Line)
	}
	for _, n := range top.Content {
		var it item
		if err := n.Decode(&it); err != nil {
			rs.problem(file, n.Line, "item", err.Error())
			continue
		}
		it.line, it.file = n.Line, file
		if unknown := unknownKeys(n); unknown != "" {
			rs.problem(file, n.Line, it.name(), "unknown key "+strconv.Quote(unknown))
			continue
		}
		rs.merge(&it)
	}
	return nil
}

var knownKeys = map[string]bool{"rule": true, "macro": true, "list": true, "condition": true, "output": true, "desc": true,
	"priority": true, "source": true, "tags": true, "items": true, "enabled": true, "append": true, "exceptions": true,
	"override": true, "required_engine_version": true, "required_plugin_versions": true, "warn_evttypes": true,
	"skip-if-unknown-filter": true, "capture": true, "capture_duration": true}

func unknownKeys(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !knownKeys[k] {
			return k
		}
	}
	return ""
}

func (it *item) name() string {
	switch {
	case it.Rule != "":
		return "rule " + strconv.Quote(it.Rule)
	case it.Macro != "":
		return "macro " + strconv.Quote(it.Macro)
	case it.List != "":
		return "list " + strconv.Quote(it.List)
	}
	return "item"
}

func (rs *Ruleset) problem(file string, line int, what, err string) {
	rs.Problems = append(rs.Problems, Problem{File: file, Line: line, Item: what, Err: err})
}

// merge adds an item, or appends to or overrides the earlier one of
// that name.
func (rs *Ruleset) merge(it *item) {
	switch {
	case it.RequiredEngine != "":
		if versionLess(rs.EngineVersion, it.RequiredEngine) {
			rs.EngineVersion = it.RequiredEngine
		}
		return
	case it.RequiredPluginVersions != nil:
		return
	case it.List != "":
		rs.mergeInto(rs.lists, it.List, it)
	case it.Macro != "":
		rs.mergeInto(rs.macros, it.Macro, it)
	case it.Rule != "":
		if _, ok := rs.rules[it.Rule]; !ok && !it.Append && it.Override == nil {
			rs.order = append(rs.order, it.Rule)
		}
		rs.mergeInto(rs.rules, it.Rule, it)
	default:
		rs.problem(it.file, it.line, "item", "neither a rule, a macro nor a list")
	}
}

func (rs *Ruleset) mergeInto(m map[string]*item, name string, it *item) {
	prev, ok := m[name]
	if !it.Append && it.Override == nil {
		if it.Rule != "" && it.Condition == "" && it.Enabled != nil && ok {
			// The short form that only enables or disables a rule.
			prev.Enabled = it.Enabled
			return
		}
		m[name] = it
		return
	}
	if !ok {
		rs.problem(it.file, it.line, it.name(), "appends to or overrides nothing defined before it")
		return
	}
	modes := it.Override
	if it.Append {
		modes = map[string]string{"condition": "append", "items": "append", "exceptions": "append", "output": "append", "desc": "append"}
	}
	for key, mode := range modes {
		if mode != "append" && mode != "replace" {
			rs.problem(it.file, it.line, it.name(), fmt.Sprintf("override %s: %q (want append or replace)", key, mode))
			continue
		}
		appendMode := mode == "append"
		switch key {
		case "condition":
			mergeText(&prev.Condition, it.Condition, appendMode)
		case "output":
			mergeText(&prev.Output, it.Output, appendMode)
		case "desc":
			mergeText(&prev.Desc, it.Desc, appendMode)
		case "items":
			mergeList(&prev.Items, it.Items, appendMode)
		case "exceptions":
			mergeList(&prev.Exceptions, it.Exceptions, appendMode)
		case "tags":
			mergeList(&prev.Tags, it.Tags, appendMode)
		case "enabled":
			prev.Enabled = it.Enabled
		case "priority":
			prev.Priority = it.Priority
		default:
			rs.problem(it.file, it.line, it.name(), "override of unknown key "+strconv.Quote(key))
		}
	}
}

// mergeText appends (with a space) or replaces; an empty value changes
// nothing.
func mergeText(dst *string, v string, appendMode bool) {
	switch {
	case v == "":
	case appendMode:
		*dst += " " + v
	default:
		*dst = v
	}
}

func mergeList[T any](dst *[]T, v []T, appendMode bool) {
	if appendMode {
		*dst = append(*dst, v...)
	} else {
		*dst = v
	}
}

// Compile turns the items loaded so far into Rules. It can be called
// again after more files are added.
func (rs *Ruleset) Compile() {
	rs.Rules = nil
	c := &compiler{rs: rs, macros: map[string]node{}, state: map[string]int{}}
	for _, name := range rs.order {
		it := rs.rules[name]
		r := &Rule{Name: name, Desc: strings.TrimSpace(it.Desc), Priority: strings.ToUpper(it.Priority), Tags: it.Tags, Output: strings.TrimSpace(it.Output),
			Source: it.Source, Enabled: it.Enabled == nil || *it.Enabled, File: it.file, Line: it.line, Condition: strings.TrimSpace(it.Condition)}
		if r.Source == "" {
			r.Source = "syscall"
		}
		rs.Rules = append(rs.Rules, r)
		if r.Source != "syscall" {
			r.Problem = "events of source " + strconv.Quote(r.Source) + " are not collected"
			continue
		}
		if r.Condition == "" {
			r.Problem = "no condition"
			continue
		}
		n, err := parseCondition(r.Condition)
		if err != nil {
			r.Problem = "condition: " + err.Error()
			rs.problem(it.file, it.line, it.name(), r.Problem)
			continue
		}
		for i, ex := range it.Exceptions {
			en, err := exceptionNode(ex)
			if err != nil {
				r.Problem = fmt.Sprintf("exception %d (%s): %v", i+1, ex.Name, err)
				rs.problem(it.file, it.line, it.name(), r.Problem)
				break
			}
			if en != nil {
				n = andNode{n, notNode{en}}
			}
		}
		if r.Problem != "" {
			continue
		}
		cc, err := c.compile(n)
		if err != nil {
			r.Problem = err.Error()
			var ue *unsupported
			if !errors.As(err, &ue) {
				rs.problem(it.file, it.line, it.name(), r.Problem)
			}
			continue
		}
		r.cond = cc
	}
	rs.index()
}

// unsupported is a rule bulwark can read but not run: a field or an
// operator its sources do not provide. It is a report, not an error in
// the file.
type unsupported struct{ what string }

func (u *unsupported) Error() string { return u.what }

// exceptionNode is an exception as a condition: any of its value tuples
// matching all of its fields.
func exceptionNode(ex exception) (node, error) {
	fields := asStrings(ex.Fields)
	comps := asStrings(ex.Comps)
	if len(fields) == 0 {
		return nil, errors.New("no fields")
	}
	single := false
	if _, ok := ex.Fields.(string); ok {
		single = true
	}
	for len(comps) < len(fields) {
		comps = append(comps, "=")
	}
	if single && listOps[comps[0]] {
		// fields: proc.name, comps: in, values: [a, b]: one list.
		if len(ex.Values) == 0 {
			return nil, nil
		}
		return cmpNode{field: splitField(fields[0]), op: comps[0], list: true, vals: asStrings(ex.Values)}, nil
	}
	var out node
	for _, v := range ex.Values {
		var tuple []any
		if single {
			tuple = []any{v}
		} else {
			t, ok := v.([]any)
			if !ok || len(t) != len(fields) {
				return nil, fmt.Errorf("a value tuple does not have one value per field (%d)", len(fields))
			}
			tuple = t
		}
		var conj node
		for i, f := range fields {
			cmp := cmpNode{field: splitField(f), op: comps[i]}
			if !binaryOps[cmp.op] {
				return nil, fmt.Errorf("unknown comparison %q", cmp.op)
			}
			switch x := tuple[i].(type) {
			case []any:
				cmp.list = true
				cmp.vals = asStrings(x)
			default:
				cmp.vals = []string{fmt.Sprint(x)}
				cmp.list = listOps[cmp.op]
			}
			if conj == nil {
				conj = cmp
			} else {
				conj = andNode{conj, cmp}
			}
		}
		if out == nil {
			out = conj
		} else {
			out = orNode{out, conj}
		}
	}
	return out, nil
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

type compiler struct {
	rs     *Ruleset
	macros map[string]node
	state  map[string]int // 1: expanding, 2: done
}

// compile resolves macros and lists and checks fields.
func (c *compiler) compile(n node) (compiled, error) {
	switch x := n.(type) {
	case andNode:
		l, r, err := c.pair(x.l, x.r)
		return cAnd{l, r}, err
	case orNode:
		l, r, err := c.pair(x.l, x.r)
		return cOr{l, r}, err
	case notNode:
		e, err := c.compile(x.x)
		if err != nil {
			return nil, err
		}
		return cNot{e}, nil
	case macroRef:
		m, err := c.macro(x.name)
		if err != nil {
			return nil, err
		}
		return c.compile(m)
	case cmpNode:
		return c.cmp(x)
	}
	return nil, fmt.Errorf("unknown node %T", n)
}

func (c *compiler) pair(a, b node) (compiled, compiled, error) {
	l, err := c.compile(a)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.compile(b)
	return l, r, err
}

func (c *compiler) macro(name string) (node, error) {
	if n, ok := c.macros[name]; ok && c.state[name] == 2 {
		return n, nil
	}
	if c.state[name] == 1 {
		return nil, fmt.Errorf("macro %q refers to itself (a cycle)", name)
	}
	it, ok := c.rs.macros[name]
	if !ok {
		return nil, fmt.Errorf("%q is neither a macro nor a comparison (undefined macro)", name)
	}
	c.state[name] = 1
	defer func() {
		if c.state[name] == 1 {
			delete(c.state, name)
		}
	}()
	n, err := parseCondition(it.Condition)
	if err != nil {
		return nil, fmt.Errorf("macro %q: %w", name, err)
	}
	// Check the macro's references (cycles) now.
	if err := c.walkMacros(n); err != nil {
		return nil, err
	}
	c.macros[name], c.state[name] = n, 2
	return n, nil
}

func (c *compiler) walkMacros(n node) error {
	switch x := n.(type) {
	case andNode:
		return errors.Join(c.walkMacros(x.l), c.walkMacros(x.r))
	case orNode:
		return errors.Join(c.walkMacros(x.l), c.walkMacros(x.r))
	case notNode:
		return c.walkMacros(x.x)
	case macroRef:
		_, err := c.macro(x.name)
		return err
	}
	return nil
}

// expand replaces list names by their items, recursively.
func (c *compiler) expand(vals []string, depth int) ([]string, error) {
	if depth > 32 {
		return nil, errors.New("lists nest deeper than 32 (a cycle?)")
	}
	var out []string
	for _, v := range vals {
		if l, ok := c.rs.lists[v]; ok {
			sub, err := c.expand(l.Items, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, v)
	}
	return out, nil
}

// EventKey is the Event key of a field as rules write it
// ("evt.arg.flags", "proc.aname[2]"), the same key conditions read.
func EventKey(field string) string {
	f := normalise(splitField(field))
	return Key(f.Name, f.Arg)
}

func normalise(f Field) Field {
	if rest, ok := strings.CutPrefix(f.Name, "evt.arg."); ok && f.Arg == "" {
		return Field{Name: "evt.arg", Arg: rest, Transform: f.Transform}
	}
	if rest, ok := strings.CutPrefix(f.Name, "k8s.pod.label."); ok && f.Arg == "" {
		return Field{Name: "k8s.pod.label", Arg: rest, Transform: f.Transform}
	}
	return f
}

func (c *compiler) cmp(x cmpNode) (compiled, error) {
	f := normalise(x.field)
	info, ok := Fields[f.Name]
	if !ok {
		return nil, &unsupported{"field " + f.Name + " is not provided by bulwark's event sources"}
	}
	if f.Arg != "" && !info.Arg {
		return nil, &unsupported{"field " + f.Name + " takes no argument"}
	}
	if f.Arg == "" && info.Arg && !info.NoArg {
		return nil, &unsupported{"field " + f.Name + " needs an argument"}
	}
	if f.Transform == "b64" {
		return nil, &unsupported{"the b64 transformer is not supported"}
	}
	cc := &cCmp{field: f, typ: info.Type, op: x.op}
	if x.rhsField != nil {
		rf := normalise(*x.rhsField)
		if _, ok := Fields[rf.Name]; !ok {
			return nil, &unsupported{"field " + rf.Name + " is not provided by bulwark's event sources"}
		}
		cc.rhs = &rf
		return cc, nil
	}
	vals := x.vals
	if x.list {
		var err error
		if vals, err = c.expand(x.vals, 0); err != nil {
			return nil, err
		}
	}
	cc.vals = vals
	switch {
	case x.op == "exists":
	case info.Type == Int:
		for _, v := range vals {
			n, err := strconv.ParseInt(v, 0, 64)
			if err != nil {
				return nil, fmt.Errorf("%s %s %s: %q is not an integer", f, x.op, strings.Join(vals, ","), v)
			}
			cc.ints = append(cc.ints, n)
		}
	case info.Type == Net:
		for _, v := range vals {
			n, err := parseNet(v)
			if err != nil {
				return nil, fmt.Errorf("%s %s %s: %q is not an IP address or network", f, x.op, strings.Join(vals, ","), v)
			}
			cc.nets = append(cc.nets, n)
		}
	case info.Type == Bool:
		if len(vals) != 1 || (vals[0] != "true" && vals[0] != "false") {
			return nil, fmt.Errorf("%s %s: want true or false", f, x.op)
		}
	}
	if x.op == "regex" {
		re, err := compileRegex(vals[0])
		if err != nil {
			return nil, fmt.Errorf("%s regex: %w", f, err)
		}
		cc.re = re
	}
	if x.op == "in" || x.op == "intersects" {
		cc.set = make(map[string]bool, len(vals))
		for _, v := range vals {
			cc.set[v] = true
		}
	}
	if len(cc.vals) == 0 && x.op != "exists" && !x.list {
		return nil, fmt.Errorf("%s %s: no value", f, x.op)
	}
	return cc, nil
}

// versionLess compares dotted versions ("0.57.0"; a bare "8" is old).
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if a == "" {
		return true
	}
	if len(pa) == 1 && len(pb) > 1 {
		return true // "8" is the old integer engine version
	}
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}

// Report counts rules by state for a summary.
type Report struct {
	Rules, Evaluable, Disabled int
	// Missing counts the unevaluable rules by reason.
	Missing map[string]int
}

// Summary summarises the compiled rules.
func (rs *Ruleset) Summary() Report {
	r := Report{Missing: map[string]int{}}
	for _, x := range rs.Rules {
		r.Rules++
		if !x.Enabled {
			r.Disabled++
		}
		if x.Evaluable() {
			r.Evaluable++
		} else {
			r.Missing[x.Problem]++
		}
	}
	return r
}

// MissingByCount lists the reasons, most frequent first.
func (r Report) MissingByCount() []string {
	out := make([]string, 0, len(r.Missing))
	for k := range r.Missing {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if r.Missing[out[i]] != r.Missing[out[j]] {
			return r.Missing[out[i]] > r.Missing[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}
