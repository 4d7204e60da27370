// Package npm catalogs JavaScript packages from node_modules/**/package.json
// and from package-lock.json files (lockfile versions 1, 2 and 3).
package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads installed package manifests and lock files.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "npm" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements inventory.Extractor.
func (Extractor) Required(p string, _ fs.FileMode, _ int64) bool {
	switch path.Base(p) {
	case "package.json":
		return strings.Contains(p, "node_modules/")
	case "package-lock.json":
		return !strings.Contains(p, "node_modules/")
	}
	return false
}

// Extract implements inventory.Extractor.
func (Extractor) Extract(_ context.Context, in *inventory.Input) ([]sbom.Package, error) {
	if path.Base(in.Path) == "package-lock.json" {
		return ParseLock(in.Content)
	}
	p, err := ParseManifest(in.Content)
	if err != nil || p == nil {
		return nil, err
	}
	return []sbom.Package{*p}, nil
}

type manifest struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	License  json.RawMessage `json:"license"`
	Licenses json.RawMessage `json:"licenses"`
	Private  bool            `json:"private"`
}

// ParseManifest reads an installed package.json. Manifests without a name
// or version (test fixtures, nested tooling configs) are not packages.
func ParseManifest(b []byte) (*sbom.Package, error) {
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	if m.Name == "" || m.Version == "" {
		return nil, nil
	}
	p := &sbom.Package{Type: sbom.TypeNPM, Version: m.Version}
	p.Namespace, p.Name = splitScope(m.Name)
	p.Licenses = licenses(m.License, m.Licenses)
	return p, nil
}

func splitScope(name string) (ns, n string) {
	if strings.HasPrefix(name, "@") {
		if s, rest, ok := strings.Cut(name, "/"); ok {
			return s, rest
		}
	}
	return "", name
}

// licenses reads the forms npm has used: "MIT", {"type": "MIT"} and
// [{"type": "MIT"}, ...].
func licenses(fields ...json.RawMessage) []string {
	var out []string
	for _, f := range fields {
		if len(f) == 0 {
			continue
		}
		var s string
		if json.Unmarshal(f, &s) == nil {
			if s != "" {
				out = append(out, s)
			}
			continue
		}
		var o struct{ Type string }
		if json.Unmarshal(f, &o) == nil && o.Type != "" {
			out = append(out, o.Type)
			continue
		}
		var list []json.RawMessage
		if json.Unmarshal(f, &list) == nil {
			out = append(out, licenses(list...)...)
		}
	}
	return out
}

type lockfile struct {
	LockfileVersion int `json:"lockfileVersion"`
	// v2 and v3: keyed by install path.
	Packages map[string]lockPackage `json:"packages"`
	// v1: nested by name.
	Dependencies map[string]lockDep `json:"dependencies"`
}

type lockPackage struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	License  json.RawMessage `json:"license"`
	Dev      bool            `json:"dev"`
	Link     bool            `json:"link"`
	Resolved string          `json:"resolved"`
}

type lockDep struct {
	Version      string             `json:"version"`
	Dev          bool               `json:"dev"`
	Dependencies map[string]lockDep `json:"dependencies"`
}

// ParseLock reads a package-lock.json. Development dependencies are kept:
// they are installed when the image runs `npm ci` without --omit=dev.
func ParseLock(b []byte) ([]sbom.Package, error) {
	var l lockfile
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("package-lock.json: %w", err)
	}
	seen := map[string]bool{}
	var out []sbom.Package
	add := func(name, version string, lic []string) {
		if name == "" || version == "" || strings.HasPrefix(version, "file:") || strings.HasPrefix(version, "link:") {
			return
		}
		k := name + "@" + version
		if seen[k] {
			return
		}
		seen[k] = true
		p := sbom.Package{Type: sbom.TypeNPM, Version: version, Licenses: lic}
		p.Namespace, p.Name = splitScope(name)
		out = append(out, p)
	}
	if len(l.Packages) > 0 {
		keys := make([]string, 0, len(l.Packages))
		for k := range l.Packages {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "" {
				continue // the project itself
			}
			p := l.Packages[k]
			if p.Link {
				continue
			}
			i := strings.LastIndex(k, "node_modules/")
			if i < 0 {
				continue // a workspace folder: the project's own source
			}
			name := p.Name
			if name == "" {
				name = k[i+len("node_modules/"):]
			}
			add(name, p.Version, licenses(p.License))
		}
		return out, nil
	}
	var walk func(map[string]lockDep)
	walk = func(deps map[string]lockDep) {
		names := make([]string, 0, len(deps))
		for n := range deps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			add(n, deps[n].Version, nil)
			walk(deps[n].Dependencies)
		}
	}
	walk(l.Dependencies)
	return out, nil
}
