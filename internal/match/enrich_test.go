package match

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/vulndb"
)

func importDB(t *testing.T, paths ...string) *vulndb.DB {
	t.Helper()
	db, err := vulndb.Open(filepath.Join(t.TempDir(), "vuln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	res, err := db.Import(context.Background(), paths, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("import problems: %v", res.Problems)
	}
	return db
}

func pkg(typ, ns, name, version string) sbom.Package {
	return sbom.Package{Type: typ, Namespace: ns, Name: name, Version: version, Locations: []sbom.Location{{Path: "f"}}}
}

// TestSeverityFromRealRecords scores the CVSS v3.1 vector of a real GHSA
// record and reads a real Ubuntu record's own rating.
func TestSeverityFromRealRecords(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "osv", "osv-dev-testdata", "GHSA-838r-hvwh-24h8.json"))
	doc := &sbom.Document{Packages: []sbom.Package{pkg(sbom.TypeMaven, "org.apache.any23", "apache-any23", "2.3")}}
	fs, err := Match(context.Background(), db, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("findings: %+v", fs)
	}
	f := fs[0]
	// AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:N scores 9.1 in CVSS v3.1.
	if f.Severity != severity.Critical || f.Score != 9.1 || f.ID != "GHSA-838r-hvwh-24h8" || !cmp.Equal(f.Aliases, []string{"CVE-2021-38555"}) {
		t.Errorf("finding %s aliases %v: %v %.1f", f.ID, f.Aliases, f.Severity, f.Score)
	}

	b, _ := os.ReadFile(testenv.CorpusPath(t, "osv", "osv-dev-testdata", "UBUNTU-CVE-2025-38094.json"))
	var v vulndb.Vuln
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var u Finding
	rate(&u, &v, Target{Ecosystem: v.Affected[0].Package.Ecosystem, Name: v.Affected[0].Package.Name}, func() []*vulndb.Vuln { return nil })
	if u.Severity != severity.Medium || u.SourceSeverity != "medium" || u.Score != 0 {
		t.Errorf("Ubuntu rating: %+v", u)
	}
}

// TestAliasesMerge stores a Go advisory and the CVE record it aliases,
// both covering the same module: one finding, shown under the CVE.
func TestAliasesMerge(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"GO-1.json":  `{"id":"GO-1","modified":"2024-01-01T00:00:00Z","aliases":["CVE-1","GHSA-1"],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.0"}]}]}]}`,
		"CVE-1.json": `{"id":"CVE-1","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.2.1"}]}]}]}`,
		"GO-2.json":  `{"id":"GO-2","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	db := importDB(t, dir)
	doc := &sbom.Document{Packages: []sbom.Package{pkg(sbom.TypeGo, "", "example.com/m", "v1.1.0")}}
	fs, err := Match(context.Background(), db, doc)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID      string
		Aliases []string
		Fixed   []string
		Sev     severity.Level
	}
	var got []row
	for _, f := range fs {
		got = append(got, row{f.ID, f.Aliases, f.Fixed, f.Severity})
	}
	want := []row{
		{"CVE-1", []string{"GHSA-1", "GO-1"}, []string{"1.2.0", "1.2.1"}, severity.Critical},
		{"GO-2", nil, nil, severity.Unknown},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSeverityFromRelated: the Go vulnerability database carries no CVSS,
// so a real GO- record is rated from the record that shares its CVE alias
// (an NVD-derived record with a vector and no affected packages, as
// osv.dev serves them), and the finding says so; a record related to
// nothing stays UNKNOWN with no source.
func TestSeverityFromRelated(t *testing.T) {
	dir := t.TempDir()
	goRec, err := os.ReadFile(testenv.CorpusPath(t, "osv", "go-vulndb", "GO-2022-0189.json"))
	if err != nil {
		t.Fatal(err)
	}
	const vector = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"
	for name, body := range map[string]string{
		"GO-2022-0189.json":   string(goRec),
		"CVE-2018-16873.json": `{"id":"CVE-2018-16873","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"` + vector + `"}]}`,
		"GO-9.json":           `{"id":"GO-9","modified":"2024-01-01T00:00:00Z","aliases":["GHSA-9"],"affected":[{"package":{"ecosystem":"Go","name":"toolchain"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
		"GHSA-9.json":         `{"id":"GHSA-9","modified":"2024-01-01T00:00:00Z","database_specific":{"severity":"MODERATE"}}`,
		"GO-10.json":          `{"id":"GO-10","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"toolchain"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`,
	} {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	db := importDB(t, dir)
	doc := &sbom.Document{Packages: []sbom.Package{pkg(sbom.TypeGo, "", "toolchain", "v1.10.1")}}
	fs, err := Match(context.Background(), db, doc)
	if err != nil {
		t.Fatal(err)
	}
	score, _, _ := severity.Score(vector)
	type row struct {
		ID, Source string
		Sev        severity.Level
	}
	var got []row
	for _, f := range fs {
		got = append(got, row{f.ID, f.SeveritySource, f.Severity})
	}
	want := []row{
		{"GO-10", "", severity.Unknown},
		{"GO-2022-0189", "cvss:CVE-2018-16873", severity.FromScore(score)},
		{"GO-9", "rating:GHSA-9", severity.Medium},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
