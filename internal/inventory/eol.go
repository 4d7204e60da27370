package inventory

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/sbom"
)

//go:embed eol.yaml
var eolYAML []byte

// EOLTable maps an os-release ID and a release to the end of its
// security support.
type EOLTable struct {
	dates map[string]map[string]time.Time
}

// ParseEOL reads an end-of-life table in the format of eol.yaml.
func ParseEOL(b []byte) (*EOLTable, error) {
	var raw map[string]map[string]string
	if err := yaml.UnmarshalStrict(b, &raw); err != nil {
		return nil, fmt.Errorf("end-of-life table: %w", err)
	}
	t := &EOLTable{dates: map[string]map[string]time.Time{}}
	for id, rels := range raw {
		t.dates[id] = map[string]time.Time{}
		for rel, d := range rels {
			when, err := time.Parse(time.DateOnly, d)
			if err != nil {
				return nil, fmt.Errorf("end-of-life table: %s %s: %w", id, rel, err)
			}
			t.dates[id][rel] = when
		}
	}
	return t, nil
}

var defaultEOL = sync.OnceValue(func() *EOLTable {
	t, err := ParseEOL(eolYAML)
	if err != nil {
		panic(err) // embedded data; a test parses it
	}
	return t
})

// DefaultEOL is the table embedded in bulwark.
func DefaultEOL() *EOLTable { return defaultEOL() }

// Lookup returns the end of support of an OS release, matching the
// longest release key that prefixes the version on a dot boundary.
func (t *EOLTable) Lookup(id, version string) (time.Time, bool) {
	rels := t.dates[id]
	best, bestLen := time.Time{}, -1
	for rel, d := range rels {
		if (version == rel || strings.HasPrefix(version, rel+".")) && len(rel) > bestLen {
			best, bestLen = d, len(rel)
		}
	}
	return best, bestLen >= 0
}

// Annotate sets the OS's end-of-life date and whether it has passed.
func (t *EOLTable) Annotate(o *sbom.OS, now time.Time) {
	d, ok := t.Lookup(o.ID, o.VersionID)
	if !ok {
		return
	}
	o.EOL = &d
	o.EOLPassed = now.After(d.Add(24 * time.Hour))
}
