package npm

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/inventory/inventorytest"
)

// npmDir is the npm that Debian's nodejs package installs: a real tree of
// a few hundred packages.
const npmDir = "/usr/lib/node_modules/npm"

// TestInstalledTreeAgainstNpm compares with npm's own view of the same
// tree: `npm query '*'` (its arborist loader).
func TestInstalledTreeAgainstNpm(t *testing.T) {
	if _, err := os.Stat(npmDir); err != nil {
		t.Fatalf("%s missing: scripts/deps.sh installs nodejs and npm", npmDir)
	}
	cmd := exec.Command("npm", "query", "*")
	cmd.Dir = npmDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm query: %v", err)
	}
	var q []struct {
		Name, Version, Location string
	}
	if err := json.Unmarshal(out, &q); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, p := range q {
		if p.Location == "" || p.Version == "" {
			continue // the root project itself
		}
		want[p.Name+"@"+p.Version] = true
	}
	got := map[string]bool{}
	for _, p := range inventorytest.ExtractDir(t, Extractor{}, npmDir, filepath.Dir(npmDir)) {
		n := p.Name
		if p.Namespace != "" {
			n = p.Namespace + "/" + p.Name
		}
		got[n+"@"+p.Version] = true
	}
	if len(want) < 100 {
		t.Fatalf("npm reported only %d packages", len(want))
	}
	if diff := cmp.Diff(keys(want), keys(got)); diff != "" {
		t.Errorf("(-npm query +bulwark):\n%s", diff)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestLockfiles(t *testing.T) {
	v3 := `{"name":"app","lockfileVersion":3,"packages":{
	  "":{"name":"app","version":"1.0.0"},
	  "node_modules/lodash":{"version":"4.17.20","license":"MIT"},
	  "node_modules/@babel/core":{"version":"7.1.0","dev":true},
	  "node_modules/a/node_modules/lodash":{"version":"3.10.1"},
	  "packages/ws":{"name":"ws-local","version":"0.0.1"},
	  "node_modules/linked":{"resolved":"packages/ws","link":true}}}`
	v1 := `{"lockfileVersion":1,"dependencies":{"minimist":{"version":"0.0.8","dependencies":{"x":{"version":"1.0.0"}}}}}`
	tests := map[string][]string{
		v3: {"lodash@4.17.20", "@babel/core@7.1.0", "lodash@3.10.1"},
		v1: {"minimist@0.0.8", "x@1.0.0"},
	}
	for in, want := range tests {
		pkgs, err := ParseLock([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pkgs {
			n := p.Name
			if p.Namespace != "" {
				n = p.Namespace + "/" + n
			}
			got = append(got, n+"@"+p.Version)
		}
		sort.Strings(got)
		sort.Strings(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}
	if _, err := ParseLock([]byte(`{"packages": [`)); err == nil {
		t.Error("truncated lock file: no error")
	}
}

func TestLicenseForms(t *testing.T) {
	for in, want := range map[string][]string{
		`{"name":"a","version":"1","license":"MIT"}`:                                   {"MIT"},
		`{"name":"a","version":"1","license":{"type":"ISC"}}`:                          {"ISC"},
		`{"name":"a","version":"1","licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}`: {"MIT", "Apache-2.0"},
	} {
		p, err := ParseManifest([]byte(in))
		if err != nil || p == nil {
			t.Fatalf("%s: %v", in, err)
		}
		if diff := cmp.Diff(want, p.Licenses); diff != "" {
			t.Errorf("%s: %s", in, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"name":"@a/b","version":"1.0.0","license":{"type":"MIT"}}`))
	f.Add([]byte(`{"lockfileVersion":2,"packages":{"node_modules/x":{"version":"1"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseManifest(b)
		pkgs, _ := ParseLock(b)
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("empty package %+v", p)
			}
		}
	})
}
