package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Document is a policy file: rules by repository glob. The first rule
// whose pattern matches a repository applies; a repository no rule covers
// is refused (fail closed). It is the same model as a project's pull
// policy (one Rule), so the CLI, the stand-alone webhook and the registry
// judge alike. A file written for `bulwark verify --policy` (pattern,
// keys, attestations, maxAttestationAge) is such a document.
type Document struct {
	Rules []Rule `json:"rules"`
	// Admission is the admission webhook's section (internal/admission
	// reads it strictly); nil when the file has none.
	Admission json.RawMessage `json:"admission,omitempty"`
	// Path is the file the document was read from.
	Path string `json:"-"`
}

// LoadDocument reads a policy file (YAML or JSON). Key entries are PEM
// public keys or files, relative to the policy file.
func LoadDocument(file string) (*Document, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	d, err := ParseDocument(b, filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", file, err)
	}
	d.Path = file
	return d, nil
}

// ParseDocument parses a policy document; key files are read from dir.
// In a file, a rule checks only what it names: vulnerabilities when it
// sets blockSeverity, signatures when it lists keys (requireSignature
// then defaults to true), attestations and hardening checks when listed.
func ParseDocument(b []byte, dir string) (*Document, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(j, &top); err != nil {
		return nil, fmt.Errorf("a policy document is a mapping with rules: %w", err)
	}
	if _, ok := top["rules"]; !ok {
		if _, pull := top["blockSeverity"]; pull || top["unscanned"] != nil || top["requireSignature"] != nil {
			return nil, fmt.Errorf("this is a project pull policy (one rule, no rules: list): put it under rules: with a pattern, e.g. rules: [{pattern: \"registry.example.com/shop/*\", blockSeverity: high}]")
		}
		return nil, fmt.Errorf("no rules")
	}
	for k := range top {
		if k != "rules" && k != "admission" {
			return nil, fmt.Errorf("unknown field %q (a policy document has rules and, for the admission webhook, admission)", k)
		}
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(top["rules"], &raws); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("no rules")
	}
	d := &Document{Admission: top["admission"]}
	for i, raw := range raws {
		where := fmt.Sprintf("rules[%d]", i)
		r := Rule{BlockSeverity: "none", Unscanned: "allow"}
		rb, _ := json.Marshal(raw)
		dec := json.NewDecoder(bytes.NewReader(rb))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if _, err := path.Match(r.Pattern, ""); err != nil || r.Pattern == "" {
			return nil, fmt.Errorf("%s: pattern %q is not a glob on the repository (registry/path)", where, r.Pattern)
		}
		where += " (" + r.Pattern + ")"
		if _, set := raw["requireSignature"]; !set && len(r.Keys) > 0 {
			r.RequireSignature = true
		}
		if r.RequireSignature && len(r.Keys) == 0 {
			return nil, fmt.Errorf("%s: no keys: a rule that requires signatures must name who signs", where)
		}
		if len(r.Keys) == 0 && r.BlockSeverity == "none" && len(r.RequiredChecks) == 0 {
			return nil, fmt.Errorf("%s: no keys: a rule must name who signs, or set blockSeverity or requiredChecks", where)
		}
		for k, key := range r.Keys {
			if strings.Contains(key, "-----BEGIN") {
				continue
			}
			f := key
			if !filepath.IsAbs(f) {
				f = filepath.Join(dir, f)
			}
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%s: key: %w", where, err)
			}
			r.Keys[k] = string(pem)
		}
		if err := r.prepare(where); err != nil {
			return nil, err
		}
		d.Rules = append(d.Rules, r)
	}
	return d, nil
}

// For returns the rule covering repo (registry/path), or false.
func (d *Document) For(repo string) (*Rule, bool) {
	for i := range d.Rules {
		if ok, _ := path.Match(d.Rules[i].Pattern, repo); ok {
			return &d.Rules[i], true
		}
	}
	return nil, false
}
