package kubebench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// State is a check's verdict.
type State string

// kube-bench's four verdicts: FAIL is a scored check that did not pass,
// WARN an unscored or manual one, INFO a skipped one.
const (
	Pass State = "PASS"
	Fail State = "FAIL"
	Warn State = "WARN"
	Info State = "INFO"
)

// Host is what a run reads from the machine it judges.
type Host interface {
	// Running reports whether a program (a config.yaml "bins" entry,
	// possibly several words) runs: a process named as its first word
	// whose command line starts with it, after any directory.
	Running(bin string) bool
	// Exists reports whether a file or directory is there.
	Exists(path string) bool
	// Shell runs an audit command with /bin/sh and returns its output
	// (stdout and stderr); a non-zero exit is an error.
	Shell(ctx context.Context, script string) (string, error)
}

// Options choose what a run covers.
type Options struct {
	// Benchmark is the benchmark to run (cis-1.12); empty picks it from
	// KubeVersion through config.yaml's version_mapping.
	Benchmark, KubeVersion string
	// Targets are the controls files to run (master, node, etcd,
	// controlplane, policies); empty runs every target of the benchmark.
	Targets []string
	// Checks and Groups run only these IDs; Skip makes these check or
	// group IDs INFO.
	Checks, Groups, Skip []string
}

// Result is one check's outcome.
type Result struct {
	*Check
	State          State
	ActualValue    string
	ExpectedResult string
	Reason         string
}

// GroupResult is a group's checks that ran.
type GroupResult struct {
	ID, Text, Type string
	Results        []*Result
	Summary
}

// ControlsResult is one target's results.
type ControlsResult struct {
	ID, Version, Text, Type string
	Groups                  []*GroupResult
	Summary
}

// Summary counts verdicts.
type Summary struct{ Pass, Fail, Warn, Info int }

func (s *Summary) add(st State) {
	switch st {
	case Pass:
		s.Pass++
	case Fail:
		s.Fail++
	case Warn:
		s.Warn++
	case Info:
		s.Info++
	}
}

// Report is a whole run.
type Report struct {
	Benchmark string
	Controls  []*ControlsResult
	Totals    Summary
}

// Run runs a benchmark's targets on a host.
func Run(ctx context.Context, cfg *Config, h Host, o Options) (*Report, error) {
	bench := o.Benchmark
	if bench == "" {
		if o.KubeVersion == "" {
			return nil, fmt.Errorf("no benchmark and no Kubernetes version: give --benchmark or --version")
		}
		var err error
		if bench, err = cfg.Benchmark(o.KubeVersion); err != nil {
			return nil, err
		}
	}
	valid, err := cfg.Targets(bench)
	if err != nil {
		return nil, err
	}
	cfg, err = cfg.withBenchmark(bench)
	if err != nil {
		return nil, err
	}
	targets := o.Targets
	if len(targets) == 0 {
		targets = valid
	}
	if len(o.Checks) > 0 && len(o.Groups) > 0 {
		return nil, fmt.Errorf("--check and --group cannot be used together")
	}
	rep := &Report{Benchmark: bench}
	for _, given := range targets {
		t := strings.ReplaceAll(strings.ToLower(given), "worker", "node") // kube-bench's alias
		if !slices.Contains(valid, t) {
			return nil, fmt.Errorf("target %q is not part of benchmark %s (its targets: %s)", given, bench, strings.Join(valid, ", "))
		}
		file := filepath.Join(cfg.Dir, bench, t+".yaml")
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s has no %s controls: %w", bench, t, err)
		}
		vars, bins := variables(cfg.section(t), h)
		controls, err := ParseControls(file, []byte(substitute(string(b), vars)))
		if err != nil {
			return nil, err
		}
		if controls.Type != t {
			return nil, fmt.Errorf("%s: a %q controls file where %q was expected", file, controls.Type, t)
		}
		defaultEnvAudit(controls, bins)
		cr := runControls(ctx, controls, h, o)
		rep.Controls = append(rep.Controls, cr)
		rep.Totals.Pass += cr.Pass
		rep.Totals.Fail += cr.Fail
		rep.Totals.Warn += cr.Warn
		rep.Totals.Info += cr.Info
	}
	slices.SortStableFunc(rep.Controls, func(a, b *ControlsResult) int {
		x, _ := strconv.Atoi(a.ID)
		y, _ := strconv.Atoi(b.ID)
		return x - y
	})
	return rep, nil
}

// fileKinds are the per-component files a controls file refers to, as
// $<component><kind>: the config.yaml list and its default.
var fileKinds = []struct{ kind, list, def string }{
	{"conf", "confs", "defaultconf"},
	{"svc", "svc", "defaultsvc"},
	{"kubeconfig", "kubeconfig", "defaultkubeconfig"},
	{"cafile", "cafile", "defaultcafile"},
	{"datadir", "datadirs", "defaultdatadir"},
}

// variables resolves a target's components: the running binary of each
// (the first of its "bins" that runs) and the first of its files that
// exists (else its default). When a mandatory component runs under none
// of its names, no binary is substituted at all, as kube-bench does, and
// the checks reading it fail. bins are the binaries substituted.
func variables(section map[string]any, h Host) (vars map[string]string, bins []string) {
	vars = map[string]string{}
	binVars := map[string]string{}
	missing := false
	for _, comp := range stringList(section["components"]) {
		s, _ := section[comp].(map[string]any)
		if s == nil {
			continue
		}
		if candidates := stringList(s["bins"]); len(candidates) > 0 {
			bin := ""
			for _, c := range candidates {
				if h.Running(c) {
					bin = c
					break
				}
			}
			optional, _ := s["optional"].(bool)
			if bin == "" && !optional {
				missing = true
			}
			if bin == "" {
				bin = comp
			}
			binVars[comp+"bin"] = bin
		}
		for _, fk := range fileKinds {
			file := ""
			for _, c := range stringList(s[fk.list]) {
				if h.Exists(c) {
					file = c
					break
				}
			}
			if file == "" {
				if d, ok := s[fk.def].(string); ok {
					file = d
				} else {
					file = comp
				}
			}
			vars[comp+fk.kind] = file
		}
	}
	if !missing {
		for k, v := range binVars {
			vars[k] = v
			bins = append(bins, v)
		}
	}
	slices.Sort(bins)
	return vars, bins
}

// defaultEnvAudit gives env tests without an audit_env one: the
// environment of the target's binary, when the file names exactly one.
func defaultEnvAudit(c *Controls, bins []string) {
	bin := ""
	if len(bins) == 1 {
		bin = bins[0]
	}
	for _, g := range c.Groups {
		for _, ch := range g.Checks {
			if ch.Tests == nil || ch.DisableEnvTesting || ch.AuditEnv != "" {
				continue
			}
			for _, ti := range ch.Tests.TestItems {
				if ti.Env != "" {
					ch.AuditEnv = fmt.Sprintf("cat \"/proc/$(/bin/ps -C %s -o pid= | tr -d ' ')/environ\" | tr '\\0' '\\n'", bin)
					break
				}
			}
		}
	}
}

func runControls(ctx context.Context, c *Controls, h Host, o Options) *ControlsResult {
	cr := &ControlsResult{ID: c.ID, Version: c.Version, Text: c.Text, Type: c.Type}
	skip := func(id string) bool { return slices.Contains(o.Skip, id) }
	for _, g := range c.Groups {
		var gr *GroupResult
		for _, ch := range g.Checks {
			if len(o.Groups) > 0 && !slices.Contains(o.Groups, g.ID) {
				continue
			}
			if len(o.Checks) > 0 && !slices.Contains(o.Checks, ch.ID) {
				continue
			}
			if g.Type == "skip" || skip(g.ID) || skip(ch.ID) {
				ch.Type = "skip"
			}
			r := runCheck(ctx, ch, h)
			if gr == nil {
				gr = &GroupResult{ID: g.ID, Text: g.Text, Type: g.Type}
				cr.Groups = append(cr.Groups, gr)
			}
			gr.Results = append(gr.Results, r)
			gr.add(r.State)
			cr.add(r.State)
		}
	}
	return cr
}

// failed is a check that did not pass: FAIL when scored, else WARN.
func failed(ch *Check) State {
	if ch.Scored {
		return Fail
	}
	return Warn
}

func runCheck(ctx context.Context, ch *Check, h Host) *Result {
	r := &Result{Check: ch}
	switch {
	case ch.Scored && strings.TrimSpace(ch.Type) == "" && ch.Tests == nil:
		r.State, r.Reason = Warn, "There are no tests"
		return r
	case ch.Type == "skip":
		r.State, r.Reason = Info, "Test marked as skip"
		return r
	case ch.Type == "manual":
		r.State, r.Reason = Warn, "Test marked as a manual test"
		return r
	case ch.Tests == nil || len(ch.Tests.TestItems) == 0:
		r.State, r.Reason = failed(ch), "No tests defined"
		return r
	}
	var outEnv, outAudit, outConfig string
	var err error
	run := func(script string) (string, error) {
		if strings.TrimSpace(script) == "" {
			return "", nil
		}
		return h.Shell(ctx, strings.TrimSpace(script))
	}
	if outEnv, err = run(ch.AuditEnv); err == nil {
		if outAudit, err = run(ch.Audit); err == nil {
			outConfig, err = run(ch.AuditConfig)
		}
	}
	if err != nil {
		r.State, r.Reason = failed(ch), err.Error()
		return r
	}
	results := make([]testOutput, len(ch.Tests.TestItems))
	expected := make([]string, len(results))
	for i, ti := range ch.Tests.TestItems {
		res := ti.execute(outAudit, fromCommand, ch.UseMultipleValues)
		if !res.found && ch.AuditConfig != "" {
			res = ti.execute(outConfig, fromConfig, ch.UseMultipleValues)
			if !res.found && ti.Env != "" {
				res = ti.execute(outEnv, fromEnv, ch.UseMultipleValues)
			}
		}
		if !res.found && ti.Env != "" {
			res = ti.execute(outEnv, fromEnv, ch.UseMultipleValues)
		}
		results[i], expected[i] = res, res.expected
	}
	pass := ch.Tests.BinOp != "or"
	for _, res := range results {
		if ch.Tests.BinOp == "or" {
			pass = pass || res.pass
		} else {
			pass = pass && res.pass
		}
	}
	joiner := " AND "
	if ch.Tests.BinOp == "or" {
		joiner = " OR "
	}
	r.ExpectedResult = strings.Join(expected, joiner)
	r.ActualValue = results[0].actual
	if pass {
		r.State = Pass
	} else {
		r.State = failed(ch)
	}
	return r
}

type source int

const (
	fromCommand source = iota
	fromConfig
	fromEnv
)

type testOutput struct {
	pass, found      bool
	actual, expected string
}

func (t *TestItem) name(src source) string {
	switch src {
	case fromConfig:
		return t.Path
	case fromEnv:
		return t.Env
	}
	return t.Flag
}

func (t *TestItem) execute(s string, src source, multiple bool) testOutput {
	s = strings.TrimRight(s, " \n")
	lines := []string{s}
	if multiple {
		lines = strings.Split(s, "\n")
	}
	var res testOutput
	for _, l := range lines {
		res = t.evaluate(l, src)
		if !res.pass {
			break
		}
	}
	res.actual = s
	return res
}

func (t *TestItem) evaluate(s string, src source) testOutput {
	found, value, err := t.find(s, src)
	if err != nil {
		return testOutput{actual: err.Error()}
	}
	var res testOutput
	switch {
	case !t.Set:
		res.expected, res.pass = fmt.Sprintf("'%s' is not present", t.name(src)), !found
	case found && t.Compare.Op != "":
		res.expected, res.pass = compare(t.Compare.Op, value, t.Compare.Value, t.name(src))
	default:
		res.expected, res.pass = fmt.Sprintf("'%s' is present", t.name(src)), found
	}
	res.found = found
	return res
}

// find looks for the test's flag in a command line (--flag=value,
// flag: value, --flag value when a value is compared, or a bare --flag,
// which is "true"), its JSONPath in a YAML or JSON document, or its
// variable in an environment listing.
func (t *TestItem) find(s string, src source) (bool, string, error) {
	switch src {
	case fromConfig:
		if t.Path == "" {
			return false, "", nil
		}
		var doc any
		if err := json.Unmarshal([]byte(s), &doc); err != nil {
			if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
				return false, "", fmt.Errorf("failed to load YAML or JSON from input %q: %v", s, err)
			}
		}
		j := jsonpath.New("path")
		j.AllowMissingKeys(true)
		if err := j.Parse(t.Path); err != nil {
			return false, "", fmt.Errorf("unable to parse path expression %q: %v", t.Path, err)
		}
		v, err := execPath(j, doc)
		if err != nil {
			return false, "", fmt.Errorf("unable to evaluate path expression %q: %v", t.Path, err)
		}
		return v != "", v, nil
	case fromEnv:
		if s == "" || t.Env == "" {
			return false, "", nil
		}
		re, err := regexp.Compile(regexp.QuoteMeta(t.Env) + `=.*(?:$|\n)`)
		if err != nil {
			return false, "", fmt.Errorf("env %q: %v", t.Env, err)
		}
		m := re.FindString(s)
		v := strings.Replace(strings.Replace(m, "\n", "", 1), t.Env+"=", "", 1)
		return v != "", v, nil
	}
	if s == "" || t.Flag == "" || !strings.Contains(s, t.Flag) {
		return false, "", nil
	}
	re, err := regexp.Compile(`(` + regexp.QuoteMeta(t.Flag) + `)(=|: *)*([^\s]*) *`)
	if err != nil {
		return false, "", fmt.Errorf("flag %q: %v", t.Flag, err)
	}
	m := re.FindStringSubmatch(s)
	if m == nil {
		return true, "", fmt.Errorf("invalid flag in test item: %s", t.Flag)
	}
	switch {
	case m[3] != "":
		return true, m[3], nil
	case t.Compare.Op != "":
		if sp := regexp.MustCompile(regexp.QuoteMeta(t.Flag) + `\s+([^\s-][^\s]*)`).FindStringSubmatch(s); sp != nil { // compiles: the flag's did
			return true, sp[1], nil
		}
	}
	if strings.HasPrefix(t.Flag, "--") {
		return true, "true", nil
	}
	return true, m[1], nil
}

// execPath evaluates a JSONPath. Kubernetes' implementation panics on
// some expressions over some documents ({[]} over an empty one): a
// controls file or an audit output must not crash the run, so a panic
// is that check's error.
func execPath(j *jsonpath.JSONPath, doc any) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the JSONPath evaluator failed: %v", r)
		}
	}()
	var b strings.Builder
	if err := j.Execute(&b, doc); err != nil {
		return "", err
	}
	return b.String(), nil
}

// compare applies a test's operator, as kube-bench does.
func compare(op, got, want, name string) (string, bool) {
	switch op {
	case "eq", "noteq":
		eq := got == want
		if l := strings.ToLower(got); l == "true" || l == "false" {
			eq = l == want // booleans compare without case
		}
		if op == "eq" {
			return fmt.Sprintf("'%s' is equal to '%s'", name, want), eq
		}
		return fmt.Sprintf("'%s' is not equal to '%s'", name, want), !eq
	case "gt", "gte", "lt", "lte":
		a, err1 := strconv.Atoi(strings.TrimSpace(got))
		b, err2 := strconv.Atoi(strings.TrimSpace(want))
		if err1 != nil || err2 != nil {
			return fmt.Sprintf("Invalid Number(s) used for comparison: '%s' '%s'", got, want), false
		}
		words := map[string]string{"gt": "is greater than", "gte": "is greater or equal to", "lt": "is lower than", "lte": "is lower or equal to"}[op]
		ok := map[string]bool{"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
		return fmt.Sprintf("'%s' %s %s", name, words, want), ok
	case "has":
		return fmt.Sprintf("'%s' has '%s'", name, want), strings.Contains(got, want)
	case "nothave":
		return fmt.Sprintf("'%s' does not have '%s'", name, want), !strings.Contains(got, want)
	case "regex":
		re, err := regexp.Compile(want)
		if err != nil {
			return fmt.Sprintf("invalid regular expression '%s'", want), false
		}
		return fmt.Sprintf("'%s' matched by regex expression '%s'", name, want), re.MatchString(got)
	case "valid_elements":
		return fmt.Sprintf("'%s' contains valid elements from '%s'", name, want), validElements(elements(got), elements(want))
	case "bitmask":
		g, err1 := strconv.ParseInt(got, 8, 64)
		w, err2 := strconv.ParseInt(want, 8, 64)
		if err1 != nil || err2 != nil {
			return fmt.Sprintf("Not numeric value - flag: %s", got), false
		}
		return fmt.Sprintf("%s has permissions %s, expected %s or more restrictive", name, got, want), w&g == g
	}
	return "", false
}

func elements(s string) []string {
	s = strings.TrimRight(strings.TrimSpace(s), ",")
	if s == "" {
		return nil
	}
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

func validElements(got, allowed []string) bool {
	if len(got) == 0 || len(allowed) == 0 {
		return len(got) == len(allowed)
	}
	for _, g := range got {
		if !slices.Contains(allowed, g) {
			return false
		}
	}
	return true
}
