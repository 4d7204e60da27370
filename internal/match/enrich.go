package match

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/vulndb"
)

// rate sets a finding's CVSS score and severity, from the first source
// that has one: a v3.1 or v3.0 vector (else v4.0) of the matching
// affected entry or of the record; a vector of a related record (one that
// shares an ID or alias, such as the GHSA or NVD-derived record of a GO-
// or Alpine one, which carry none); the rating the database wrote
// (GitHub's database_specific, Ubuntu's and Debian's ecosystem_specific);
// a related record's rating. SeveritySource says which one it was.
func rate(f *Finding, v *vulndb.Vuln, t Target, related func() []*vulndb.Vuln) {
	vectors, rating := ratingsOf(v, &t)
	f.SourceSeverity = rating
	if setFromVectors(f, vectors) {
		f.SeveritySource = "cvss"
		return
	}
	rel := related()
	for _, r := range rel {
		if vs, _ := ratingsOf(r, nil); setFromVectors(f, vs) {
			f.SeveritySource = "cvss:" + r.ID
			return
		}
	}
	if l, err := severity.Parse(rating); err == nil && rating != "" && l != severity.Unknown {
		f.Severity, f.SeveritySource = l, "rating"
		return
	}
	for _, r := range rel {
		if _, rr := ratingsOf(r, nil); rr != "" {
			if l, err := severity.Parse(rr); err == nil && l != severity.Unknown {
				f.Severity, f.SeveritySource = l, "rating:"+r.ID
				if f.SourceSeverity == "" {
					f.SourceSeverity = rr
				}
				return
			}
		}
	}
}

// ratingsOf collects a record's severity entries (of the target's
// affected entries and the record; of every affected entry when t is
// nil) and the first qualitative rating it gives.
func ratingsOf(v *vulndb.Vuln, t *Target) ([]vulndb.Severity, string) {
	var vectors []vulndb.Severity
	rating := ""
	for _, a := range v.Affected {
		if t != nil && (a.Package.Ecosystem != t.Ecosystem || vulndb.NormalizeName(t.Ecosystem, a.Package.Name) != vulndb.NormalizeName(t.Ecosystem, t.Name)) {
			continue
		}
		vectors = append(vectors, a.Severity...)
		for _, s := range []string{stringField(a.EcosystemSpecific, "severity"), stringField(a.DatabaseSpecific, "severity")} {
			if rating == "" {
				rating = s
			}
		}
	}
	vectors = append(vectors, v.Severity...)
	if s := stringField(v.DatabaseSpecific, "severity"); rating == "" {
		rating = s
	}
	// Distro ratings come as severity entries of their own type
	// ({"type": "Ubuntu", "score": "medium"}).
	for _, sv := range vectors {
		if !strings.HasPrefix(sv.Type, "CVSS_") && rating == "" {
			rating = sv.Score
		}
	}
	return vectors, rating
}

// setFromVectors scores the first v3 vector, else the first v4 one.
func setFromVectors(f *Finding, vectors []vulndb.Severity) bool {
	for _, pref := range []string{"CVSS_V3", "CVSS_V4"} {
		for _, sv := range vectors {
			if sv.Type != pref {
				continue
			}
			score, _, err := severity.Score(sv.Score)
			if err != nil {
				continue
			}
			f.Score, f.Vector, f.Severity = score, sv.Score, severity.FromScore(score)
			return true
		}
	}
	return false
}

func stringField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// advisoryURL links to the advisory: the Go vulnerability database for
// GO- IDs, the record's ADVISORY reference, else osv.dev.
func advisoryURL(v *vulndb.Vuln) string {
	if strings.HasPrefix(v.ID, "GO-") {
		return "https://pkg.go.dev/vuln/" + v.ID
	}
	for _, r := range v.References {
		if r.Type == "ADVISORY" && r.URL != "" {
			return r.URL
		}
	}
	return "https://osv.dev/vulnerability/" + v.ID
}

// idRank orders the IDs a merged finding may be shown under: CVE first
// (what compliance reports and ignore lists name), then GHSA, then the
// rest.
func idRank(id string) int {
	switch {
	case strings.HasPrefix(id, "CVE-"):
		return 0
	case strings.HasPrefix(id, "GHSA-"):
		return 1
	}
	return 2
}

// mergeAliases folds findings for the same package whose IDs are aliases
// of one another (a GO- record and its CVE and GHSA, a DSA and its CVE)
// into one finding that lists every ID.
func mergeAliases(in []Finding) []Finding {
	pkgOf := func(f *Finding) string {
		return fmt.Sprint(f.Package.Type, "\x00", f.Package.Namespace, "\x00", f.Package.Name, "\x00", f.Package.Version, "\x00", f.Package.Locations[0].Path)
	}
	parent := make([]int, len(in))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[[2]string]int{}
	for i := range in {
		p := pkgOf(&in[i])
		for _, id := range append([]string{in[i].ID}, in[i].Aliases...) {
			k := [2]string{p, id}
			if j, ok := owner[k]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[k] = i
			}
		}
	}
	groups := map[int][]int{}
	var roots []int
	for i := range in {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], i)
	}
	out := make([]Finding, 0, len(roots))
	for _, r := range roots {
		g := groups[r]
		m := in[g[0]]
		ids := map[string]bool{}
		fixed := map[string]bool{}
		for _, i := range g {
			f := &in[i]
			ids[f.ID] = true
			for _, a := range f.Aliases {
				ids[a] = true
			}
			for _, x := range f.Fixed {
				fixed[x] = true
			}
			if f.Severity > m.Severity || (f.Severity == m.Severity && f.Score > m.Score) {
				m.Severity, m.Score, m.Vector = f.Severity, f.Score, f.Vector
			}
			if m.Summary == "" {
				m.Summary = f.Summary
			}
			if m.SourceSeverity == "" {
				m.SourceSeverity = f.SourceSeverity
			}
		}
		all := make([]string, 0, len(ids))
		for id := range ids {
			all = append(all, id)
		}
		sort.Slice(all, func(a, b int) bool {
			if ra, rb := idRank(all[a]), idRank(all[b]); ra != rb {
				return ra < rb
			}
			return all[a] < all[b]
		})
		if len(g) > 1 {
			// Show the merged finding under its most widely known ID, and
			// link to the record that matched first.
			m.ID = all[0]
		}
		m.Aliases = slices.DeleteFunc(all, func(id string) bool { return id == m.ID })
		if len(m.Aliases) == 0 {
			m.Aliases = nil
		}
		m.Fixed = nil
		for x := range fixed {
			m.Fixed = append(m.Fixed, x)
		}
		sort.Strings(m.Fixed)
		out = append(out, m)
	}
	return out
}
