// Package match decides which advisories affect which packages: the
// ecosystem comes from the package type and the image's OS, version
// ordering from osv-scalibr's semantic package (per ecosystem), and OSV
// ranges are evaluated as the OSV specification describes.
package match

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/osv-scalibr/semantic"

	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/vulndb"
)

// Source answers advisory queries; *vulndb.DB implements it.
type Source interface {
	// Candidates lists the advisories naming a package, with that
	// package's affected entries only.
	Candidates(ctx context.Context, ecosystem, name string) ([]vulndb.Candidate, error)
	// Get returns a whole advisory.
	Get(ctx context.Context, id string) (*vulndb.Vuln, error)
}

// Finding is one advisory affecting one package.
type Finding struct {
	ID      string       `json:"id"`
	Aliases []string     `json:"aliases,omitempty"`
	Summary string       `json:"summary,omitempty"`
	Package sbom.Package `json:"package"`
	// Ecosystem and Name are what the advisory was matched on (the source
	// package for Debian and Ubuntu, the origin for Alpine).
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	// Version is the version compared.
	Version string `json:"version"`
	// Fixed lists the versions that fix it; empty means no fix yet.
	Fixed []string `json:"fixed,omitempty"`
	// Severity is from the CVSS score when there is one, else from the
	// advisory's own rating.
	Severity severity.Level `json:"severity"`
	// Score is the CVSS base score of Vector (0 when none).
	Score  float64 `json:"score,omitempty"`
	Vector string  `json:"cvss,omitempty"`
	// SourceSeverity is the rating the advisory database gave (GitHub,
	// Debian, Ubuntu, ...), kept as written.
	SourceSeverity string `json:"sourceSeverity,omitempty"`
	// SeveritySource says where Severity came from: "cvss" (the record's
	// vector), "cvss:ID" (a related record's), "rating", "rating:ID";
	// empty when the severity is unknown.
	SeveritySource string `json:"severitySource,omitempty"`
	URL            string `json:"url,omitempty"`
}

// Target is where a package's advisories live.
type Target struct{ Ecosystem, Name, Version string }

// TargetOf maps a package to the ecosystem, name and version advisories
// use, or ok=false for packages no ecosystem covers.
func TargetOf(p *sbom.Package, o *sbom.OS) (Target, bool) {
	switch p.Type {
	case sbom.TypeGo:
		return Target{"Go", p.Name, strings.TrimPrefix(p.Version, "v")}, p.Version != "" && p.Version != "(devel)"
	case sbom.TypeNPM:
		n := p.Name
		if p.Namespace != "" {
			n = p.Namespace + "/" + n
		}
		return Target{"npm", n, p.Version}, true
	case sbom.TypePyPI:
		return Target{"PyPI", p.Name, p.Version}, true
	case sbom.TypeMaven:
		return Target{"Maven", p.Namespace + ":" + p.Name, p.Version}, p.Namespace != ""
	case sbom.TypeAPK:
		if o == nil {
			return Target{}, false
		}
		parts := strings.Split(o.VersionID, ".")
		if len(parts) < 2 {
			return Target{}, false
		}
		return Target{"Alpine:v" + parts[0] + "." + parts[1], sourceName(p), p.Version}, true
	case sbom.TypeDeb:
		if o == nil || o.VersionID == "" {
			return Target{}, false
		}
		v := p.SourceVersion
		if v == "" {
			v = p.Version
		}
		switch o.ID {
		case "debian":
			return Target{"Debian:" + o.VersionID, sourceName(p), v}, true
		case "ubuntu":
			eco := "Ubuntu:" + o.VersionID
			if strings.HasSuffix(o.VersionID, ".04") && isEvenYear(o.VersionID) {
				eco += ":LTS"
			}
			return Target{eco, sourceName(p), v}, true
		}
	}
	return Target{}, false
}

func isEvenYear(v string) bool {
	return len(v) >= 2 && (v[1]-'0')%2 == 0
}

func sourceName(p *sbom.Package) string {
	if p.SourceName != "" {
		return p.SourceName
	}
	return p.Name
}

// Match returns the findings for every package of doc, sorted by
// package then ID.
func Match(ctx context.Context, src Source, doc *sbom.Document) ([]Finding, error) {
	var out []Finding
	records := map[string]*vulndb.Vuln{}
	relatedCache := map[string][]*vulndb.Vuln{}
	for i := range doc.Packages {
		p := &doc.Packages[i]
		t, ok := TargetOf(p, doc.OS)
		if !ok {
			continue
		}
		cands, err := src.Candidates(ctx, t.Ecosystem, t.Name)
		if err != nil {
			return nil, fmt.Errorf("query %s %s: %w", t.Ecosystem, t.Name, err)
		}
		for _, c := range cands {
			affected, fixed, err := Affects(c.Affected, t)
			if err != nil {
				continue
			}
			if !affected && !c.Listed(t.Version) {
				continue
			}
			v := records[c.ID]
			if v == nil {
				if v, err = src.Get(ctx, c.ID); err != nil {
					return nil, err
				}
				records[c.ID] = v
			}
			f := Finding{ID: v.ID, Aliases: v.Aliases, Summary: v.Summary, Package: *p,
				Ecosystem: t.Ecosystem, Name: t.Name, Version: t.Version, Fixed: fixed, URL: advisoryURL(v)}
			rate(&f, v, t, func() []*vulndb.Vuln { return related(ctx, src, v, relatedCache) })
			out = append(out, f)
		}
	}
	out = mergeAliases(out)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Package.Name != out[j].Package.Name {
			return out[i].Package.Name < out[j].Package.Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RelatedSource is the optional capability of a Source to find records
// sharing an ID or alias; *vulndb.DB implements it.
type RelatedSource interface {
	Related(ctx context.Context, v *vulndb.Vuln) ([]*vulndb.Vuln, error)
}

// related asks the source once per record; a failed lookup leaves the
// severity to the record's own data (it is an enrichment, not a match).
func related(ctx context.Context, src Source, v *vulndb.Vuln, cache map[string][]*vulndb.Vuln) []*vulndb.Vuln {
	rs, ok := src.(RelatedSource)
	if !ok {
		return nil
	}
	if got, ok := cache[v.ID]; ok {
		return got
	}
	got, _ := rs.Related(ctx, v)
	cache[v.ID] = got
	return got
}

// Affects evaluates an advisory's affected entries for one target and
// returns the versions that fix it there. GIT ranges are ignored: they
// name commits, which an installed package does not carry.
func Affects(entries []vulndb.Affected, t Target) (bool, []string, error) {
	cur, err := semantic.Parse(t.Version, vulndb.BaseEcosystem(t.Ecosystem))
	if err != nil {
		return false, nil, fmt.Errorf("version %q (%s): %w", t.Version, t.Ecosystem, err)
	}
	affected := false
	fixedSet := map[string]bool{}
	for _, a := range entries {
		if a.Package.Ecosystem != t.Ecosystem || vulndb.NormalizeName(t.Ecosystem, a.Package.Name) != vulndb.NormalizeName(t.Ecosystem, t.Name) {
			continue
		}
		// Listed versions are exact strings (OSV schema), compared as such.
		if slices.Contains(a.Versions, t.Version) {
			affected = true
		}
		for _, r := range a.Ranges {
			if r.Type == "GIT" {
				continue
			}
			in, fixed := inRange(cur, vulndb.BaseEcosystem(t.Ecosystem), r.Events)
			if in {
				affected = true
				if fixed != "" {
					fixedSet[fixed] = true
				}
			}
		}
	}
	var fixed []string
	for f := range fixedSet {
		fixed = append(fixed, f)
	}
	sort.Strings(fixed)
	return affected, fixed, nil
}

// inRange evaluates one range as the OSV specification describes: with
// the events sorted by version, introduced opens an affected interval,
// fixed and limit close it at their version, last_affected just after.
// It returns the fix that closes the interval holding the version, if any.
func inRange(cur semantic.Version, eco string, events []vulndb.Event) (bool, string) {
	type ev struct {
		kind, ver string
		v         semantic.Version
	}
	var evs []ev
	for _, e := range events {
		var x ev
		switch {
		case e.Introduced != "":
			x = ev{kind: "introduced", ver: e.Introduced}
		case e.Fixed != "":
			x = ev{kind: "fixed", ver: e.Fixed}
		case e.LastAffected != "":
			x = ev{kind: "last_affected", ver: e.LastAffected}
		case e.Limit != "":
			x = ev{kind: "limit", ver: e.Limit}
		default:
			continue
		}
		if x.ver != "0" {
			v, err := semantic.Parse(x.ver, eco)
			if err != nil {
				continue
			}
			x.v = v
		}
		evs = append(evs, x)
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].v == nil || evs[j].v == nil {
			return evs[i].v == nil && evs[j].v != nil
		}
		c, _ := evs[i].v.Compare(evs[j].v)
		return c < 0
	})
	affected, fix := false, ""
	for _, e := range evs {
		c := 1
		if e.v != nil {
			// sign of (cur - event)
			d, err := cur.Compare(e.v)
			if err != nil {
				return false, ""
			}
			c = d
		}
		switch e.kind {
		case "introduced":
			if c < 0 {
				return affected, fix
			}
			affected, fix = true, ""
		case "fixed":
			if c < 0 {
				if affected {
					fix = e.ver
				}
				return affected, fix
			}
			affected = false
		case "limit":
			if c < 0 {
				return affected, fix
			}
			affected = false
		case "last_affected":
			if c <= 0 {
				return affected, fix
			}
			affected = false
		}
	}
	return affected, fix
}
