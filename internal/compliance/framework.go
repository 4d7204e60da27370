// Package compliance judges a framework's controls from bulwark's
// evidence: hardening check results (bulwark check, check image, check
// docker), CIS benchmark runs (bulwark cis docker or docker-bench-
// security's JSON log, bulwark cis kubernetes or kube-bench's JSON).
// A framework is data: a YAML file mapping bulwark checks to its control
// IDs, with the controls' titles; the built-in ones are
// internal/checks/frameworks/*.yaml, and a user adds one without
// rebuilding. Each control is pass, fail, not applicable or manual, with
// the evidence that decided it.
package compliance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/dockerbench"
)

// Framework is a set of controls and the bulwark checks that evidence
// each.
type Framework struct {
	// ID names the framework on the command line: the file's base name
	// (nist-800-53, cis-docker, pci-dss, …).
	ID      string
	Name    string
	Version string
	// Controls are the framework's controls, sorted by ID.
	Controls []Control
	// File is where the framework was read from ("" for built-ins).
	File string
	// Benchmark is the CIS benchmark whose verdicts are controls of
	// their own: "docker" or "kubernetes" (empty for other frameworks).
	Benchmark string
}

// Control is one control and the checks mapped to it.
type Control struct {
	ID     string   `json:"id"`
	Title  string   `json:"title,omitempty"`
	Checks []string `json:"checks,omitempty"`
	// Facts are the platform facts mapped to it (Facts lists them).
	Facts []string `json:"facts,omitempty"`
}

// file is the YAML form: the checks-to-controls mapping the check
// registry already reads, with optional titles.
type file struct {
	Name     string              `yaml:"name"`
	Version  string              `yaml:"version"`
	Controls map[string][]string `yaml:"controls"`
	Titles   map[string]string   `yaml:"titles"`
	Facts    map[string][]string `yaml:"facts"`
}

// Builtin lists the built-in frameworks' IDs.
func Builtin() ([]string, error) {
	fws, err := checks.Frameworks()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fws {
		out = append(out, strings.TrimSuffix(f.File(), ".yaml"))
	}
	sort.Strings(out)
	return out, nil
}

// Load returns a built-in framework by ID.
func Load(id string) (*Framework, error) {
	fws, err := checks.Frameworks()
	if err != nil {
		return nil, err
	}
	var known []string
	for _, f := range fws {
		fid := strings.TrimSuffix(f.File(), ".yaml")
		known = append(known, fid)
		if fid == id {
			return build(fid, "", file{Name: f.Name, Version: f.Version, Controls: f.Controls, Titles: f.Titles, Facts: f.Facts})
		}
	}
	sort.Strings(known)
	return nil, fmt.Errorf("no framework %q: built in are %s (or give --framework-file)", id, strings.Join(known, ", "))
}

// LoadFile reads a user's framework file. Unknown keys, duplicate
// controls, unknown check IDs and a file mapping nothing are errors
// naming the file: a typo must not become a silently empty report.
func LoadFile(path string) (*Framework, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFile(path, b)
}

func parseFile(path string, b []byte) (*Framework, error) {
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("framework %s: %w", path, err)
	}
	if f.Name == "" {
		return nil, fmt.Errorf("framework %s: no name", path)
	}
	if len(f.Controls) == 0 && len(f.Titles) == 0 && len(f.Facts) == 0 {
		return nil, fmt.Errorf("framework %s: maps no check to any control", path)
	}
	all, err := checks.All()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, c := range all {
		known[c.ID] = true
	}
	for id := range f.Controls {
		if !known[id] {
			return nil, fmt.Errorf("framework %s: unknown check %q (bulwark check --list-checks lists them)", path, id)
		}
	}
	for id := range f.Facts {
		if !isFact(id) {
			var ids []string
			for _, f := range Facts {
				ids = append(ids, f.ID)
			}
			return nil, fmt.Errorf("framework %s: unknown fact %q under facts: (the facts are %s)", path, id, strings.Join(ids, ", "))
		}
	}
	return build(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), path, f)
}

// build inverts the checks-to-controls mapping.
func build(id, path string, f file) (*Framework, error) {
	fw := &Framework{ID: id, Name: f.Name, Version: f.Version, File: path}
	byID := map[string]*Control{}
	get := func(cid string) *Control {
		c, ok := byID[cid]
		if !ok {
			c = &Control{ID: cid, Title: f.Titles[cid]}
			byID[cid] = c
		}
		return c
	}
	for _, m := range []struct {
		what string
		from map[string][]string
		to   func(*Control, string)
	}{
		{"check", f.Controls, func(c *Control, id string) { c.Checks = append(c.Checks, id) }},
		{"fact", f.Facts, func(c *Control, id string) { c.Facts = append(c.Facts, id) }},
	} {
		for id, controls := range m.from {
			seen := map[string]bool{}
			for _, cid := range controls {
				if cid == "" {
					return nil, fmt.Errorf("framework %s: %s %s maps to an empty control ID", f.Name, m.what, id)
				}
				if seen[cid] {
					return nil, fmt.Errorf("framework %s: %s %s lists control %s twice", f.Name, m.what, id, cid)
				}
				seen[cid] = true
				m.to(get(cid), id)
			}
		}
	}
	for cid := range f.Titles {
		get(cid)
	}
	switch {
	case strings.HasPrefix(f.Name, "CIS Docker"):
		fw.Benchmark = "docker"
		cat, err := dockerbench.LoadCatalog()
		if err != nil {
			return nil, err
		}
		for _, e := range cat.Entries {
			if dockerbench.Kind(e.ID) != "section" && !strings.HasPrefix(e.ID, "C.") && !strings.HasPrefix(e.ID, "8.") {
				c := get(e.ID)
				if c.Title == "" {
					c.Title = e.Desc
				}
			}
		}
	case strings.HasPrefix(f.Name, "CIS Kubernetes"):
		fw.Benchmark = "kubernetes"
	case strings.HasPrefix(f.Name, "NIST SP 800-53"):
		var b baselines
		if err := json.Unmarshal(nistBaselines, &b); err != nil {
			return nil, err
		}
		for _, c := range byID {
			if c.Title == "" {
				c.Title = b.Titles[c.ID]
			}
		}
	}
	for _, c := range byID {
		slices.Sort(c.Checks)
		slices.Sort(c.Facts)
		fw.Controls = append(fw.Controls, *c)
	}
	sort.Slice(fw.Controls, func(i, j int) bool { return controlLess(fw.Controls[i].ID, fw.Controls[j].ID) })
	return fw, nil
}

// controlLess orders IDs as people number them: AC-2 before AC-10,
// 5.2 before 5.10.
func controlLess(a, b string) bool {
	pa, pb := idParts(a), idParts(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			na, ea := atoi(pa[i])
			nb, eb := atoi(pb[i])
			if ea && eb {
				return na < nb
			}
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

func idParts(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '-' || r == '(' || r == ')' || r == ' ' })
}

func atoi(s string) (int, bool) {
	n := 0
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}
