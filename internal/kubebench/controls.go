package kubebench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Controls is one controls file (cfg/<benchmark>/<target>.yaml).
type Controls struct {
	ID      string   `yaml:"id"`
	Version string   `yaml:"version"`
	Text    string   `yaml:"text"`
	Type    string   `yaml:"type"`
	Groups  []*Group `yaml:"groups"`
	// Controls is the file's own (empty) "controls:" key.
	Controls any `yaml:"controls"`
}

// Group is a group of checks; type "skip" makes every check in it INFO.
type Group struct {
	ID     string   `yaml:"id"`
	Text   string   `yaml:"text"`
	Type   string   `yaml:"type"`
	Checks []*Check `yaml:"checks"`
}

// Check is one recommendation: audit commands and tests on their output.
type Check struct {
	ID          string `yaml:"id"`
	Text        string `yaml:"text"`
	Audit       string `yaml:"audit"`
	AuditEnv    string `yaml:"audit_env"`
	AuditConfig string `yaml:"audit_config"`
	// Type "manual" is WARN, "skip" is INFO, without running anything.
	Type        string `yaml:"type"`
	Tests       *Tests `yaml:"tests"`
	Remediation string `yaml:"remediation"`
	Scored      bool   `yaml:"scored"`
	// UseMultipleValues judges every line of the output on its own.
	UseMultipleValues bool `yaml:"use_multiple_values"`
	DisableEnvTesting bool `yaml:"disable_env_testing"`
}

// Tests combine test items with bin_op (and, the default, or or).
type Tests struct {
	BinOp     string      `yaml:"bin_op"`
	TestItems []*TestItem `yaml:"test_items"`
}

// TestItem is one test: a flag in a command line, a path in a
// configuration file (a JSONPath), or an environment variable, either
// set (and optionally compared) or not set.
type TestItem struct {
	Flag    string  `yaml:"flag"`
	Path    string  `yaml:"path"`
	Env     string  `yaml:"env"`
	Set     bool    `yaml:"set"`
	Compare Compare `yaml:"compare"`
}

// Compare is a test's comparison.
type Compare struct {
	Op    string `yaml:"op"`
	Value string `yaml:"value"`
}

// UnmarshalYAML makes set default to true, as in kube-bench.
func (t *TestItem) UnmarshalYAML(n *yaml.Node) error {
	type plain TestItem
	p := plain{Set: true}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*t = TestItem(p)
	return nil
}

var compareOps = map[string]bool{"eq": true, "noteq": true, "gt": true, "gte": true, "lt": true, "lte": true,
	"has": true, "nothave": true, "regex": true, "valid_elements": true, "bitmask": true}

// ParseControls reads a controls file after substitution. Unknown keys,
// unknown comparison operators and bin_ops, and duplicate check IDs are
// errors naming the file and the check: a typo must not turn a check
// into a silent pass.
func ParseControls(name string, b []byte) (*Controls, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var c Controls
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty controls file", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if c.Type == "" || c.ID == "" {
		return nil, fmt.Errorf("%s: no id or type; not a kube-bench controls file", name)
	}
	seen := map[string]bool{}
	for i, g := range c.Groups {
		if g == nil {
			return nil, fmt.Errorf("%s: group %d is empty", name, i+1)
		}
		for j, ch := range g.Checks {
			if ch == nil {
				return nil, fmt.Errorf("%s: group %s: check %d is empty", name, g.ID, j+1)
			}
			if ch.ID == "" {
				return nil, fmt.Errorf("%s: a check of group %s has no id", name, g.ID)
			}
			if seen[ch.ID] {
				return nil, fmt.Errorf("%s: check %s is defined twice", name, ch.ID)
			}
			seen[ch.ID] = true
			if ch.Tests == nil {
				continue
			}
			switch ch.Tests.BinOp {
			case "", "and", "or":
			default:
				return nil, fmt.Errorf("%s: check %s: unknown bin_op %q (and, or)", name, ch.ID, ch.Tests.BinOp)
			}
			for _, ti := range ch.Tests.TestItems {
				if ti == nil {
					return nil, fmt.Errorf("%s: check %s: an empty test item", name, ch.ID)
				}
				if ti.Compare.Op != "" && !compareOps[ti.Compare.Op] {
					return nil, fmt.Errorf("%s: check %s: unknown compare op %q", name, ch.ID, ti.Compare.Op)
				}
				if ti.Flag == "" && ti.Path == "" && ti.Env == "" {
					return nil, fmt.Errorf("%s: check %s: a test item has no flag, path or env", name, ch.ID)
				}
			}
		}
	}
	return &c, nil
}

// substitute replaces $<component><kind> variables (longest names first,
// so $kubeletconf never eats the start of a longer name), quoting a value
// of several words as kube-bench does; it returns the binaries used.
func substitute(s string, vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	// Longest first.
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if len(keys[j]) > len(keys[i]) || (len(keys[j]) == len(keys[i]) && keys[j] < keys[i]) {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	for _, k := range keys {
		v := vars[k]
		if v == "" {
			continue
		}
		if len(strings.Fields(v)) > 1 {
			v = "'" + v + "'"
		}
		s = strings.ReplaceAll(s, "$"+k, v)
	}
	return s
}
