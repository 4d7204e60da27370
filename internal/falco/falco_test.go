package falco

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/google/go-cmp/cmp"
	"os"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

func loadCorpus(t testing.TB, files ...string) *Ruleset {
	t.Helper()
	rs := NewRuleset()
	for _, f := range files {
		b, err := os.ReadFile(testenv.CorpusPath(t, "runtime", "falco", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := rs.Add(f, b); err != nil {
			t.Fatal(err)
		}
	}
	rs.Compile()
	return rs
}

// TestCorpusRules loads Falco's own rules files (stable, incubating,
// sandbox), each rule loaded or reported with the field or operator
// that is missing; nothing in them is an error of the file.
func TestCorpusRules(t *testing.T) {
	rs := loadCorpus(t, "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
	for _, p := range rs.Problems {
		t.Errorf("problem: %v", p)
	}
	sum := rs.Summary()
	t.Logf("%d rules, %d evaluable, %d disabled", sum.Rules, sum.Evaluable, sum.Disabled)
	for _, m := range sum.MissingByCount() {
		t.Logf("%3d  %s", sum.Missing[m], m)
	}
	// Every rule is accounted for: evaluable, or not with a reason that
	// names a field bulwark's sources really lack.
	stable, stableOK := 0, 0
	for _, r := range rs.Rules {
		if r.File == "falco_rules.yaml" {
			stable++
			if r.Evaluable() {
				stableOK++
			}
		}
		if r.Evaluable() {
			continue
		}
		f, ok := strings.CutPrefix(r.Problem, "field ")
		f, _, _ = strings.Cut(f, " ")
		if _, known := Fields[f]; !ok || known {
			t.Errorf("%s: not evaluable for a reason that is not a missing field: %s", r.Name, r.Problem)
		}
	}
	t.Logf("stable: %d of %d rules evaluate", stableOK, stable)
	if stable != 25 || stableOK < 24 { // all but the one that needs fd.sip.name (DNS)
		t.Errorf("stable rules: %d of %d evaluate; want 24 (all but Contact K8S API Server, which needs DNS names)", stableOK, stable)
	}
}

func ruleNamed(t *testing.T, rs *Ruleset, name string) *Rule {
	t.Helper()
	for _, r := range rs.Rules {
		if r.Name == name {
			if !r.Evaluable() {
				t.Fatalf("%s is not evaluable: %s", name, r.Problem)
			}
			return r
		}
	}
	t.Fatalf("no rule %q", name)
	return nil
}

// TestStableRulesJudgeEvents runs Falco's own stable rules on events
// shaped as bulwark's sources fill them: each fires for the event that
// does the thing and not for its harmless twin.
func TestStableRulesJudgeEvents(t *testing.T) {
	rs := loadCorpus(t, "falco_rules.yaml")
	shell := Event{"evt.type": "execve", "evt.dir": "<", "proc.name": "bash", "proc.exepath": "/bin/bash", "proc.cmdline": "bash",
		"proc.pname": "runc:[1:CHILD]", "proc.tty": int64(34816), "container.id": "3f2a9c1b7d4e", "container.name": "web",
		"user.name": "root", "user.uid": int64(0)}
	sensitive := Event{"evt.type": "openat", "evt.dir": "<", "evt.is_open_read": true, "fd.typechar": "f", "fd.num": int64(3),
		"fd.name": "/etc/shadow", "fd.directory": "/etc", "fd.filename": "shadow", "proc.name": "python3", "proc.exepath": "/usr/bin/python3",
		"proc.pname": "bash", "proc.cmdline": "python3 steal.py", "container.id": "3f2a9c1b7d4e", "user.name": "root"}
	drift := Event{"evt.type": "execve", "evt.dir": "<", "proc.name": "xmrig", "proc.exepath": "/tmp/xmrig", "proc.is_exe_upper_layer": true,
		"container.id": "3f2a9c1b7d4e", "proc.pname": "bash", "proc.cmdline": "xmrig"}
	with := func(e Event, kv ...any) Event {
		out := Event{}
		for k, v := range e {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, c := range []struct {
		rule string
		e    Event
		want bool
	}{
		{"Terminal shell in container", shell, true},
		{"Terminal shell in container", with(shell, "proc.tty", int64(0)), false},
		{"Terminal shell in container", with(shell, "container.id", "host"), false},
		{"Terminal shell in container", with(shell, "proc.name", "nginx", "proc.exepath", "/usr/sbin/nginx"), false},
		{"Read sensitive file untrusted", sensitive, true},
		{"Read sensitive file untrusted", with(sensitive, "fd.name", "/etc/hostname", "fd.filename", "hostname"), false},
		{"Read sensitive file untrusted", with(sensitive, "proc.name", "sshd"), false},
		{"Drop and execute new binary in container", drift, true},
		{"Drop and execute new binary in container", with(drift, "proc.is_exe_upper_layer", false), false},
	} {
		r := ruleNamed(t, rs, c.rule)
		if got := r.Match(c.e); got != c.want {
			t.Errorf("%s on %v: %v, want %v", c.rule, c.e, got, c.want)
		}
	}
}

// TestBadRulesFile: each broken item is a named problem with its line;
// the good rule after them still loads and runs.
func TestBadRulesFile(t *testing.T) {
	file := `
- macro: loop_a
  condition: loop_b
- macro: loop_b
  condition: loop_a and evt.type=open
- rule: cyclic
  condition: loop_a
  output: x
  priority: WARNING
- rule: broken syntax
  condition: proc.name in (bash, sh
  output: x
  priority: WARNING
- rule: unknown key
  conditon: proc.name = bash
- rule: undefined macro
  condition: spawned_process and proc.name = bash
  output: x
  priority: WARNING
- rule: nothing here
  condition: and not proc.name = x
  override: {condition: append}
- list: shells
  items: [bash, sh]
- rule: good
  condition: evt.type = execve and proc.name in (shells) and not user.uid < 1000
  output: shell %proc.name
  priority: NOTICE
- rule: good
  condition: and container.id != host
  override: {condition: append}
- list: shells
  items: [zsh]
  append: true
`
	rs := NewRuleset()
	if err := rs.Add("bad.yaml", []byte(file)); err != nil {
		t.Fatal(err)
	}
	rs.Compile()
	var got []string
	for _, p := range rs.Problems {
		got = append(got, fmt.Sprintf("%d %s: %s", p.Line, p.Item, p.Err))
	}
	want := []string{
		`14 rule "unknown key": unknown key "conditon"`,
		`20 rule "nothing here": appends to or overrides nothing defined before it`,
		`6 rule "cyclic": macro "loop_a" refers to itself (a cycle)`,
		`10 rule "broken syntax": condition: expected ',' or ')' in the list at offset 22`,
		`16 rule "undefined macro": "spawned_process" is neither a macro nor a comparison (undefined macro)`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
	r := ruleNamed(t, rs, "good")
	e := Event{"evt.type": "execve", "proc.name": "zsh", "user.uid": int64(1000), "container.id": "abc"}
	if !r.Match(e) {
		t.Errorf("good rule (appended list and condition) missed %v", e)
	}
	e["container.id"] = "host"
	if r.Match(e) {
		t.Errorf("the appended condition was not applied")
	}
	if err := NewRuleset().Add("x.yaml", []byte("rule: not a list\n")); err == nil || !strings.Contains(err.Error(), "a list of rules") {
		t.Errorf("a mapping file: %v", err)
	}
}

func TestConditions(t *testing.T) {
	rs := NewRuleset()
	rs.Add("l.yaml", []byte("- list: bins\n  items: [/usr/bin, /bin]\n- list: more\n  items: [bins, /sbin]\n- list: rfc1918\n  items: [\"10.0.0.0/8\", \"172.16.0.0/12\", \"192.168.0.0/16\"]\n"))
	rs.Compile()
	c := &compiler{rs: rs, macros: map[string]node{}, state: map[string]int{}}
	e := Event{"fd.name": "/usr/bin/ls", "fd.directory": "/usr/bin", "proc.aname": []string{"bash", "sshd"}, "proc.aname[2]": "sshd",
		"proc.tty": int64(0), "evt.arg[flags]": "O_RDWR|O_CREAT", "proc.cmdline": "curl -s http://x", "proc.name": "Curl",
		"fd.sip": "203.0.113.5", "fd.snet": "203.0.113.5", "fd.cip": "172.17.0.2", "fd.cnet": "172.17.0.2",
		"fd.net": []string{"172.17.0.2", "203.0.113.5"}, "fd.ip": []string{"172.17.0.2", "203.0.113.5"},
		"fd.port": []string{"40000", "4444"}, "fd.sport": int64(4444), "fd.rip": "::ffff:203.0.113.5"}
	for cond, want := range map[string]bool{
		`fd.directory in (more)`:           true,
		`fd.name pmatch (bins)`:            true,
		`fd.name pmatch (/usr/b)`:          false,
		`fd.name glob "/usr/*/l?"`:         true,
		`fd.name glob /usr/*`:              true,
		`proc.aname = sshd`:                true,
		`proc.aname[2] = sshd`:             true,
		`proc.aname != bash`:               false,
		`proc.tty != 0`:                    false,
		`evt.arg.flags contains O_CREAT`:   true,
		`proc.cmdline icontains CURL`:      true,
		`tolower(proc.name) = curl`:        true,
		`proc.name = curl`:                 false,
		`proc.pname exists`:                false,
		`not proc.pname exists`:            true,
		`proc.cmdline regex "curl .*http"`: true,
		`(fd.name endswith ls or proc.tty > 5) and not proc.name=x`: true,
		`proc.name startswith Cu and fd.name bcontains bin`:         true,
		// Networks: a Net field compares with a network or an address;
		// the both-ends fields (fd.net, fd.ip) match either end with =,
		// neither with !=.
		`fd.snet = "203.0.113.0/24"`: true,
		`fd.snet in (rfc1918)`:       false,
		`fd.cnet in (rfc1918)`:       true,
		`fd.net != "127.0.0.0/8"`:    true,
		`fd.net = "172.16.0.0/12"`:   true,
		`fd.net != "172.16.0.0/12"`:  false,
		`fd.ip != "0.0.0.0"`:         true,
		`fd.ip = 203.0.113.5`:        true,
		`fd.sip = 203.0.113.6`:       false,
		`fd.rip = 203.0.113.5`:       true, // v4-mapped is the v4 address
		`fd.sport in (80, 4444)`:     true,
		`fd.port = 40000`:            true,
		`fd.port != 4444`:            false,
		`fd.sip = "2001:db8::/32"`:   false,
		`not fd.snet in (rfc1918)`:   true,
	} {
		n, err := parseCondition(cond)
		if err != nil {
			t.Errorf("%s: %v", cond, err)
			continue
		}
		cc, err := c.compile(n)
		if err != nil {
			t.Errorf("%s: %v", cond, err)
			continue
		}
		if got := cc.match(e); got != want {
			t.Errorf("%s: %v, want %v", cond, got, want)
		}
	}
	for cond, want := range map[string]string{
		`proc.name in (a, b`:           "expected ',' or ')'",
		`proc.name = `:                 "expected a value",
		`proc.name ~ x`:                "expected an operator",
		`(proc.name = x`:               "missing ')'",
		`proc.name = 'x`:               "unterminated string",
		`proc.name = x and`:            "ends where an expression",
		strings.Repeat("(", 600) + "a": "nests deeper",
	} {
		if _, err := parseCondition(cond); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40s: %v, want %q", cond, err, want)
		}
	}
	n, _ := parseCondition(`fd.snet in ("300.0.0.0/8")`)
	if _, err := c.compile(n); err == nil || !strings.Contains(err.Error(), "is not an IP address or network") {
		t.Errorf("a bad network compiled: %v", err)
	}
}

func TestEventKey(t *testing.T) {
	for in, want := range map[string]string{"evt.arg.flags": "evt.arg[flags]", "proc.aname[2]": "proc.aname[2]", "proc.name": "proc.name", "k8s.pod.label.app": "k8s.pod.label[app]"} {
		if got := EventKey(in); got != want {
			t.Errorf("EventKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRulesFile(f *testing.F) {
	// Seeds: the first rules of Falco's stable file (the whole file makes
	// each execution slow enough to stall short fuzz runs).
	if b, err := os.ReadFile(filepath.Join(os.Getenv("BULWARK_CORPUS"), "runtime", "falco", "falco_rules.yaml")); err == nil {
		if i := bytes.Index(b, []byte("\n- rule: Read sensitive file untrusted")); i > 0 {
			f.Add(b[:i])
		}
	}
	f.Add([]byte("- macro: m\n  condition: m\n- rule: r\n  condition: m and proc.name in (a,b)\n  output: o\n  priority: INFO\n"))
	f.Add([]byte("- list: l\n  items: [l]\n- rule: r\n  condition: proc.name in (l)\n"))
	e := Event{"evt.type": "execve", "proc.name": "bash", "proc.aname": []string{"a"}, "user.uid": int64(0), "container.id": "x"}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs := NewRuleset()
		if rs.Add("f.yaml", b) != nil {
			return
		}
		rs.Compile()
		for _, r := range rs.Rules {
			r.Match(e)
		}
	})
}
