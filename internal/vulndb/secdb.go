package vulndb

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
)

// secdbPackage is one package's secfixes: fixed version → advisory IDs.
type secdbPackage struct {
	Name     string              `json:"name"`
	Secfixes map[string][]string `json:"secfixes"`
}

// secdbFile is Alpine's published layout (v3.18-main.json).
type secdbFile struct {
	DistroVersion string `json:"distroversion"`
	Packages      []struct {
		Pkg secdbPackage `json:"pkg"`
	} `json:"packages"`
}

// IsSecdb reports whether a JSON document looks like Alpine secdb data in
// either layout.
func IsSecdb(b []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(b, &probe) != nil {
		return false
	}
	_, sec := probe["secfixes"]
	_, dv := probe["distroversion"]
	return sec || dv
}

// ParseSecdb converts Alpine secfixes into OSV records, one per advisory
// ID, each package fixed at the listed version (introduced at 0). The
// "0" key lists issues that never affected Alpine's package and yields
// nothing. release is the Alpine release ("v3.18") for the per-package
// layout, which does not record it; name the file's folder after it.
func ParseSecdb(b []byte, release string) ([]*Vuln, error) {
	var pkgs []secdbPackage
	var f secdbFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("not secdb JSON: %w", err)
	}
	if f.DistroVersion != "" {
		release = f.DistroVersion
	}
	if len(f.Packages) > 0 {
		for _, p := range f.Packages {
			pkgs = append(pkgs, p.Pkg)
		}
	} else {
		var p secdbPackage
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("not secdb JSON: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	if release == "" {
		return nil, fmt.Errorf("secdb file does not say which Alpine release it is for")
	}
	if !strings.HasPrefix(release, "v") {
		release = "v" + release
	}
	eco := "Alpine:" + release
	byID := map[string]*Vuln{}
	for _, p := range pkgs {
		if p.Name == "" {
			return nil, fmt.Errorf("secdb package without a name")
		}
		for fixed, ids := range p.Secfixes {
			if fixed == "0" {
				continue
			}
			for _, raw := range ids {
				for _, id := range strings.Fields(raw) {
					v := byID[id]
					if v == nil {
						v = &Vuln{ID: id, Modified: "1970-01-01T00:00:00Z"}
						byID[id] = v
					}
					v.Affected = append(v.Affected, Affected{
						Package: Package{Ecosystem: eco, Name: p.Name},
						Ranges:  []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: fixed}}}},
					})
				}
			}
		}
	}
	out := make([]*Vuln, 0, len(byID))
	for _, v := range byID {
		sort.Slice(v.Affected, func(i, j int) bool {
			return v.Affected[i].Package.Name+v.Affected[i].Ranges[0].Events[1].Fixed < v.Affected[j].Package.Name+v.Affected[j].Ranges[0].Events[1].Fixed
		})
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// releaseFromPath finds an Alpine release in a secdb file's path
// (".../alpine/3.18/main/openssl.json" → "v3.18").
func releaseFromPath(p string) string {
	for _, part := range strings.Split(path.Clean(strings.ReplaceAll(p, "\\", "/")), "/") {
		s := strings.TrimPrefix(part, "v")
		if i := strings.IndexByte(s, '.'); i > 0 && isNum(s[:i]) && isNum(s[i+1:]) {
			return "v" + s
		}
	}
	return ""
}

func isNum(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
