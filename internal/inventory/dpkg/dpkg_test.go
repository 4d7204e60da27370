package dpkg

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/testenv"
)

type row struct{ Name, Version, Source, SourceVersion, Arch string }

// dpkgQuery is the oracle: Debian's own dpkg-query reading the same
// stanzas from a scratch admin directory. Stanzas without a Status field
// (distroless status.d) get "install ok installed", which is how
// distroless images mean them; stanzas dpkg itself rejects (an empty
// package name) are dropped, and packages without a version are not
// reported by bulwark (nothing can match them), so they are dropped here
// too.
func dpkgQuery(t *testing.T, b []byte) []row {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Fatal("dpkg-query not found; .ci/run installs dpkg")
	}
	var stanzas []string
	for _, st := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(st) == "" || strings.TrimSpace(st) == "Package:" || !strings.Contains(st, "\nVersion:") {
			continue
		}
		if !strings.Contains(st, "\nStatus:") && !strings.HasPrefix(st, "Status:") {
			st = strings.TrimRight(st, "\n") + "\nStatus: install ok installed"
		}
		stanzas = append(stanzas, strings.Trim(st, "\n"))
	}
	adm := t.TempDir()
	os.MkdirAll(filepath.Join(adm, "info"), 0o755)
	os.MkdirAll(filepath.Join(adm, "updates"), 0o755)
	if err := os.WriteFile(filepath.Join(adm, "status"), []byte(strings.Join(stanzas, "\n\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("dpkg-query", "--admindir="+adm, "-W", "-f=${db:Status-Status}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\t${Architecture}\n")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dpkg-query: %v\n%s", err, stderr.String())
	}
	var rows []row
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if !present[f[0]] || f[2] == "" {
			continue
		}
		rows = append(rows, row{f[1], f[2], f[3], f[4], f[5]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func rowsOf(pkgs []sbom.Package) []row {
	var rows []row
	for _, p := range pkgs {
		rows = append(rows, row{p.Name, p.Version, p.SourceName, p.SourceVersion, p.Arch})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func TestParseAgainstDpkgQuery(t *testing.T) {
	dir := testenv.CorpusPath(t, "pkgdb", "dpkg")
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".md5sums") {
			files = append(files, p)
		}
		return err
	})
	files = append(files, testenv.CorpusPath(t, "images", "debian-bookworm-minbase", "dpkg-status"),
		testenv.CorpusPath(t, "images", "debian-trixie-minbase", "dpkg-status"))
	if len(files) < 8 {
		t.Fatalf("found only %d dpkg databases in the corpus", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := Parse(b, sbom.TypeDeb)
			want := dpkgQuery(t, b)
			if len(want) == 0 {
				t.Fatal("the oracle found no package")
			}
			if diff := cmp.Diff(want, rowsOf(got)); diff != "" {
				t.Errorf("packages differ from dpkg-query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportsSkippedStanzas(t *testing.T) {
	b, err := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "dpkg", "status.d", "syft-multiple"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := Parse(b, sbom.TypeDeb)
	if err == nil || !strings.Contains(err.Error(), "no package name") || !strings.Contains(err.Error(), `"no-version"`) {
		t.Errorf("want errors naming the nameless stanza and no-version, got %v", err)
	}
	if len(pkgs) == 0 {
		t.Error("the valid stanzas were lost")
	}
}

func TestOpkgAgainstDpkgQuery(t *testing.T) {
	b, err := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "opkg", "scalibr-valid-status"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b, "opkg")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dpkgQuery(t, b), rowsOf(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRequired(t *testing.T) {
	x := Extractor{}
	for p, want := range map[string]bool{
		"var/lib/dpkg/status":                 true,
		"var/lib/dpkg/status.d/base":          true,
		"var/lib/dpkg/status.d/base.md5sums":  false,
		"var/lib/dpkg/status-old":             false,
		"usr/var/lib/dpkg/status":             false,
		"var/lib/dpkg/status.d/sub/dir/libc6": false,
	} {
		if got := x.Required(p, 0o644, 10); got != want {
			t.Errorf("Required(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n\nPackage: c\n"))
	f.Add([]byte("Package:\n\n \n continuation\nFoo"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := Parse(b, sbom.TypeDeb)
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("package without name or version: %+v", p)
			}
		}
	})
}
