package apk

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

type row struct{ Name, Version, Origin, Arch string }

// awkOracle reads the database line by line with awk, independently of
// the parser: P, V, o and A fields, a package per blank-line-separated
// stanza, origin defaulting to the name.
func awkOracle(t *testing.T, file string) []row {
	t.Helper()
	prog := `
/^P:/ {p=substr($0,3)} /^V:/ {v=substr($0,3)} /^o:/ {o=substr($0,3)} /^A:/ {a=substr($0,3)}
/^$/ { if (p!="") print p "\t" v "\t" (o==""?p:o) "\t" a; p=v=o=a="" }
END { if (p!="") print p "\t" v "\t" (o==""?p:o) "\t" a }`
	out, err := exec.Command("awk", prog, file).Output()
	if err != nil {
		t.Fatalf("awk: %v", err)
	}
	var rows []row
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		rows = append(rows, row{f[0], f[1], f[2], f[3]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func TestParseCorpus(t *testing.T) {
	files, err := filepath.Glob(testenv.CorpusPath(t, "pkgdb", "apk", "*"))
	if err != nil || len(files) < 4 {
		t.Fatalf("apk databases in the corpus: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, p := range pkgs {
				if p.SourceVersion != p.Version {
					t.Errorf("%s: source version %q, want the package version %q", p.Name, p.SourceVersion, p.Version)
				}
				got = append(got, row{p.Name, p.Version, p.SourceName, p.Arch})
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
			if diff := cmp.Diff(awkOracle(t, f), got); diff != "" {
				t.Errorf("(-awk +parser):\n%s", diff)
			}
		})
	}
}

func TestParseKnownBase(t *testing.T) {
	// The corpus README names two packages of the alpine:3.18 base image.
	b, err := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "apk", "scalibr-installed"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"musl": "1.2.4-r0", "busybox": "1.36.0-r9"}
	for _, p := range pkgs {
		if v, ok := want[p.Name]; ok {
			if p.Version != v {
				t.Errorf("%s %s, want %s", p.Name, p.Version, v)
			}
			delete(want, p.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing %v", want)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no version":  "P:foo\nA:x86_64\n\n",
		"not a field": "P:foo\nV:1\nthis is not apk\n",
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("P:musl\nV:1.2.4-r0\nA:x86_64\no:musl\nL:MIT\n\nP:b\nV:1\n"))
	f.Add([]byte("P:\n\nV:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := Parse(b)
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
	})
}
