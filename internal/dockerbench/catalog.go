// Package dockerbench runs the CIS Docker Benchmark the way
// docker-bench-security does: the same check IDs, wording, verdicts
// (PASS, WARN, INFO, NOTE), score and JSON log, so a report from either
// tool compares with the other line by line. It reads one snapshot of the
// host (Host), gathered live from the engine's API and the filesystem or
// loaded from a file, so a run is repeatable and testable without the
// machine it came from.
package dockerbench

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// catalogJSON holds the ID, wording and remediation of every check of
// docker-bench-security at the commit the corpus was parsed from
// (docker/docker-bench-security, Apache-2.0; the wording is the CIS
// Docker Benchmark's). TestCatalogMatchesCorpus keeps it equal to the
// corpus; `go test -run TestCatalog -update` regenerates it.
//
//go:embed catalog.json
var catalogJSON []byte

// Entry is one check (or section heading) of the benchmark.
type Entry struct {
	ID          string `json:"id"`
	Desc        string `json:"desc"`
	Remediation string `json:"remediation,omitempty"`
	Impact      string `json:"remediation-impact,omitempty"`
	// Section is the top-level section ("1" … "8", "99") the entry is in.
	Section string `json:"section"`
}

// Catalog is the benchmark's checks in docker-bench-security's order.
type Catalog struct {
	Source  string  `json:"source"`
	Entries []Entry `json:"checks"`
	byID    map[string]int
}

// Lookup returns the entry with the given ID.
func (c *Catalog) Lookup(id string) (Entry, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Entry{}, false
	}
	return c.Entries[i], true
}

// LoadCatalog returns the embedded catalogue.
func LoadCatalog() (*Catalog, error) { return parseCatalog(catalogJSON) }

func parseCatalog(b []byte) (*Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("docker bench catalogue: %w", err)
	}
	c.byID = make(map[string]int, len(c.Entries))
	for i, e := range c.Entries {
		if e.ID == "" || e.Desc == "" {
			return nil, fmt.Errorf("docker bench catalogue: entry %d has no id or description", i)
		}
		if _, dup := c.byID[e.ID]; dup {
			return nil, fmt.Errorf("docker bench catalogue: check %s listed twice", e.ID)
		}
		c.byID[e.ID] = i
	}
	return &c, nil
}

// sectionOf is the top-level section of a check ID: "5" for "5.12";
// the community checks (C.1, C.5.3.1) are under heading "99".
func sectionOf(id string) string {
	s, _, _ := strings.Cut(id, ".")
	if s == "C" {
		return "99"
	}
	return s
}
