package match

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/vulndb"
)

// TestGHSABoundaries evaluates every Maven, npm and PyPI GHSA record of
// the corpus at each of its own range boundaries and listed versions:
// an introduced version, a last_affected version and every version of
// an explicit list are affected; a fixed version is not, where no other
// range of the same package could cover it.
func TestGHSABoundaries(t *testing.T) {
	var files []string
	for _, d := range []string{"ghsa-maven", "ghsa-npm-pypi"} {
		fs, _ := filepath.Glob(testenv.CorpusPath(t, "osv", d, "*.json"))
		files = append(files, fs...)
	}
	if len(files) < 350 {
		t.Fatalf("only %d GHSA records", len(files))
	}
	checked := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vulndb.Vuln
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, a := range v.Affected {
			eco := a.Package.Ecosystem
			if eco != "Maven" && eco != "npm" && eco != "PyPI" {
				continue
			}
			check := func(version string, want bool, why string) {
				got, _, err := Affects(v.Affected, Target{Ecosystem: eco, Name: a.Package.Name, Version: version})
				if err != nil {
					t.Errorf("%s %s %s: %v", v.ID, a.Package.Name, version, err)
					return
				}
				if got != want {
					t.Errorf("%s %s@%s: affected=%v, want %v (%s)", v.ID, a.Package.Name, version, got, want, why)
				}
				checked[eco]++
			}
			var ranges int
			for _, r := range a.Ranges {
				if r.Type == "GIT" {
					continue
				}
				ranges++
			}
			for _, ver := range a.Versions {
				check(ver, true, "listed in versions")
			}
			for _, r := range a.Ranges {
				if r.Type == "GIT" {
					continue
				}
				for _, e := range r.Events {
					switch {
					case e.Introduced != "" && e.Introduced != "0":
						check(e.Introduced, true, "introduced")
					case e.LastAffected != "":
						check(e.LastAffected, true, "last_affected")
					case e.Fixed != "" && ranges == 1 && !slices.Contains(a.Versions, e.Fixed):
						check(e.Fixed, false, "fixed")
					}
				}
			}
		}
	}
	for _, eco := range []string{"Maven", "npm", "PyPI"} {
		if checked[eco] == 0 {
			t.Errorf("no %s boundary checked", eco)
		}
	}
	t.Logf("boundary checks: %v", checked)
}
