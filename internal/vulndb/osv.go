// Package vulndb holds vulnerability advisories in the OSV format in a
// local database: imported from files, directories, osv.dev-style zip
// archives and Alpine secdb files, queried by (ecosystem, package).
// Nothing here needs the network at scan time.
package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Vuln is an OSV record (schema 1.x); fields bulwark does not use are
// kept in the raw JSON stored beside it.
type Vuln struct {
	SchemaVersion string      `json:"schema_version,omitempty"`
	ID            string      `json:"id"`
	Modified      string      `json:"modified"`
	Published     string      `json:"published,omitempty"`
	Withdrawn     string      `json:"withdrawn,omitempty"`
	Aliases       []string    `json:"aliases,omitempty"`
	Related       []string    `json:"related,omitempty"`
	Upstream      []string    `json:"upstream,omitempty"`
	Summary       string      `json:"summary,omitempty"`
	Details       string      `json:"details,omitempty"`
	Severity      []Severity  `json:"severity,omitempty"`
	Affected      []Affected  `json:"affected,omitempty"`
	References    []Reference `json:"references,omitempty"`
	// DatabaseSpecific carries distro severities (e.g. Ubuntu, Debian).
	DatabaseSpecific map[string]any `json:"database_specific,omitempty"`
}

// Severity is a scored severity vector.
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected lists the affected versions of one package.
type Affected struct {
	Package           Package        `json:"package"`
	Severity          []Severity     `json:"severity,omitempty"`
	Ranges            []Range        `json:"ranges,omitempty"`
	Versions          []string       `json:"versions,omitempty"`
	EcosystemSpecific map[string]any `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  map[string]any `json:"database_specific,omitempty"`
}

// Package names a package in an ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// Range is a list of version events of one type.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one range boundary; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the vulnerability.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// ParseVuln decodes and validates one OSV record.
func ParseVuln(b []byte) (*Vuln, error) {
	var v Vuln
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("not an OSV record: %w", err)
	}
	if err := v.Validate(); err != nil {
		return &v, err
	}
	return &v, nil
}

// Validate checks what matching relies on.
func (v *Vuln) Validate() error {
	if v.ID == "" {
		return errors.New("record has no id")
	}
	var errs []error
	for i, a := range v.Affected {
		if a.Package.Name == "" || a.Package.Ecosystem == "" {
			if a.Package.PURL == "" {
				errs = append(errs, fmt.Errorf("affected[%d]: no package name and ecosystem", i))
			}
			continue
		}
		for j, r := range a.Ranges {
			switch r.Type {
			case "ECOSYSTEM", "SEMVER", "GIT":
			default:
				errs = append(errs, fmt.Errorf("affected[%d].ranges[%d]: unknown type %q", i, j, r.Type))
			}
			if len(r.Events) == 0 {
				errs = append(errs, fmt.Errorf("affected[%d].ranges[%d]: no events", i, j))
			}
			for k, e := range r.Events {
				n := 0
				for _, s := range []string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if s != "" {
						n++
					}
				}
				if n != 1 {
					errs = append(errs, fmt.Errorf("affected[%d].ranges[%d].events[%d]: want exactly one of introduced, fixed, last_affected, limit", i, j, k))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// BaseEcosystem strips the release from an ecosystem ("Debian:12" →
// "Debian").
func BaseEcosystem(e string) string {
	b, _, _ := strings.Cut(e, ":")
	return b
}
