package match

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/semver"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/inventory/apk"
	"bulwark.dev/bulwark/internal/inventory/gobinary"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/vulndb"
)

func goDB(t *testing.T) *vulndb.DB {
	t.Helper()
	db, err := vulndb.Open(filepath.Join(t.TempDir(), "vuln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Import(context.Background(), []string{testenv.CorpusPath(t, "osv", "go-vulndb")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return db
}

// expectGo computes, from the raw corpus records and golang.org/x/mod's
// semver (not the matcher's code), which advisories cover module@version.
func expectGo(t *testing.T, module, version string) []string {
	t.Helper()
	files, _ := filepath.Glob(testenv.CorpusPath(t, "osv", "go-vulndb", "GO-*.json"))
	v := "v" + version
	var ids []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var rec struct {
			ID        string
			Withdrawn string
			Affected  []struct {
				Package struct{ Ecosystem, Name string }
				Ranges  []struct {
					Type   string
					Events []map[string]string
				}
			}
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Withdrawn != "" {
			continue
		}
		hit := false
		for _, a := range rec.Affected {
			if a.Package.Name != module {
				continue
			}
			for _, r := range a.Ranges {
				in := false
				for _, e := range r.Events { // go vulndb events are in order
					if x, ok := e["introduced"]; ok && (x == "0" || semver.Compare(v, "v"+x) >= 0) {
						in = true
					}
					if x, ok := e["fixed"]; ok && semver.Compare(v, "v"+x) >= 0 {
						in = false
					}
				}
				hit = hit || in
			}
		}
		if hit {
			ids = append(ids, rec.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestGoBinaries builds binaries against known-vulnerable module versions
// and against the first fixed ones, and compares the findings with the
// expectation derived from the records.
func TestGoBinaries(t *testing.T) {
	db := goDB(t)
	for _, tc := range []struct {
		name string
		mods []testenv.GoModule
	}{
		{"vulnerable", []testenv.GoModule{
			{Path: "golang.org/x/text", Version: "v0.3.5", Import: "golang.org/x/text/language"},
			{Path: "gopkg.in/yaml.v2", Version: "v2.2.2"},
		}},
		{"fixed", []testenv.GoModule{
			{Path: "golang.org/x/text", Version: "v0.3.8", Import: "golang.org/x/text/language"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, _ := testenv.BuildGoBinary(t, tc.mods)
			b, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := gobinary.Extractor{}.Extract(context.Background(), &inventory.Input{Path: "app", Content: b})
			if err != nil {
				t.Fatal(err)
			}
			doc := &sbom.Document{Packages: pkgs}
			for i := range doc.Packages {
				doc.Packages[i].Locations = []sbom.Location{{Path: "app"}}
			}
			findings, err := Match(context.Background(), db, doc)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{}
			for _, f := range findings {
				got[f.Package.Name] = append(got[f.Package.Name], f.ID)
			}
			for _, p := range pkgs {
				if p.Main || p.Name == "stdlib" {
					continue
				}
				want := expectGo(t, p.Name, p.Version[1:])
				if diff := cmp.Diff(want, got[p.Name]); diff != "" {
					t.Errorf("%s@%s (-records +matcher):\n%s", p.Name, p.Version, diff)
				}
			}
			// The two x/text language advisories fixed in 0.3.7 and 0.3.8.
			has := map[string]bool{}
			for _, id := range got["golang.org/x/text"] {
				has[id] = true
			}
			for _, id := range []string{"GO-2021-0113", "GO-2022-1059"} {
				if want := tc.name == "vulnerable"; has[id] != want {
					t.Errorf("x/text %s: %s reported=%v", tc.mods[0].Version, id, has[id])
				}
			}
		})
	}
}

// TestAlpine318 matches the alpine:3.18.0 base image's apk database with
// the 3.18 secfixes; busybox 1.36.0-r9 precedes fixes listed for 1.36.1.
func TestAlpine318(t *testing.T) {
	db, err := vulndb.Open(filepath.Join(t.TempDir(), "vuln.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Import(context.Background(), []string{testenv.CorpusPath(t, "secdb", "alpine", "3.18")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "apk", "scalibr-installed"))
	pkgs, err := apk.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pkgs {
		pkgs[i].Locations = []sbom.Location{{Path: "lib/apk/db/installed"}}
	}
	doc := &sbom.Document{OS: &sbom.OS{ID: "alpine", VersionID: "3.18.0"}, Packages: pkgs}
	findings, err := Match(context.Background(), db, doc)
	if err != nil {
		t.Fatal(err)
	}
	// Expectation from the secfixes files: every fix whose version is
	// not the installed one or older, by Alpine's own ordering of the
	// versions present (listed explicitly here from the files).
	secfix := map[string]map[string][]string{}
	for _, origin := range []string{"busybox", "openssl", "musl", "zlib", "apk-tools"} {
		b, _ := os.ReadFile(testenv.CorpusPath(t, "secdb", "alpine", "3.18", "main", origin+".json"))
		var f struct{ Secfixes map[string][]string }
		json.Unmarshal(b, &f)
		secfix[origin] = f.Secfixes
	}
	got := map[string]bool{}
	for _, f := range findings {
		got[f.Name+" "+f.ID] = true
		if len(f.Fixed) == 0 {
			t.Errorf("%s %s: no fixed version", f.Name, f.ID)
		}
	}
	for _, f := range findings {
		found := false
		for v, ids := range secfix[f.Name] {
			for _, id := range ids {
				if id == f.ID && v == f.Fixed[0] {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s %s fixed in %v is not in the secfixes", f.Name, f.ID, f.Fixed)
		}
	}
	if len(findings) == 0 {
		t.Fatal("no findings for an unpatched alpine 3.18.0 base")
	}
}
