package rpm

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

type row struct{ Name, Epoch, Version, Release, Arch, SourceRPM string }

// readExpected reads EXPECTED-rpm-qa.tsv (rpm -qa from Debian's rpm 4.18)
// or packages.csv (rpm -qa inside the original container, fields split by
// the pilcrow as command.sh shows). gpg-pubkey entries are dropped: they
// are imported signing keys, which bulwark does not list as software.
func readExpected(t *testing.T, dir string) []row {
	t.Helper()
	var rows []row
	if b, err := os.ReadFile(filepath.Join(dir, "EXPECTED-rpm-qa.tsv")); err == nil {
		r := csv.NewReader(strings.NewReader(string(b)))
		r.Comma, r.FieldsPerRecord, r.LazyQuotes = '\t', -1, true
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range recs[1:] {
			if f[0] == "gpg-pubkey" {
				continue
			}
			rows = append(rows, row{f[0], f[1], f[2], f[3], f[4], f[5]})
		}
	} else if b, err := os.ReadFile(filepath.Join(dir, "packages.csv")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Split(l, "¶")
			if f[1] == "gpg-pubkey" {
				continue
			}
			rows = append(rows, row{f[1], f[0], f[2], f[3], f[4], f[5]})
		}
	} else {
		t.Fatalf("%s has no oracle", dir)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name+rows[i].Arch < rows[j].Name+rows[j].Arch })
	return rows
}

func TestParseCorpus(t *testing.T) {
	dirs, _ := filepath.Glob(testenv.CorpusPath(t, "pkgdb", "rpm", "*"))
	if len(dirs) < 6 {
		t.Fatalf("found %d rpm databases in the corpus", len(dirs))
	}
	formats := map[string]bool{}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var db string
			for _, n := range []string{"rpmdb.sqlite", "Packages.db", "Packages"} {
				if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
					db = filepath.Join(dir, n)
					formats[n] = true
					break
				}
			}
			if db == "" {
				t.Fatal("no database file")
			}
			pkgs, err := ParseFile(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			var got []row
			for _, p := range pkgs {
				epoch := ""
				if p.Epoch != nil {
					epoch = strconv.Itoa(*p.Epoch)
				}
				v, r, _ := strings.Cut(p.Version, "-")
				src := ""
				if p.SourceName != "" {
					src = p.SourceName + "-" + p.SourceVersion + ".src.rpm"
				}
				got = append(got, row{p.Name, epoch, v, r, p.Arch, src})
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Name+got[i].Arch < got[j].Name+got[j].Arch })
			want := readExpected(t, dir)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-rpm -qa +bulwark):\n%s", diff)
			}
		})
	}
	for _, f := range []string{"rpmdb.sqlite", "Packages.db", "Packages"} {
		if !formats[f] {
			t.Errorf("no %s database tested", f)
		}
	}
}

func TestGarbageIsAnError(t *testing.T) {
	f := filepath.Join(t.TempDir(), "Packages")
	os.WriteFile(f, []byte("this is not an rpm database"), 0o600)
	if _, err := ParseFile(context.Background(), f); err == nil {
		t.Fatal("no error for a garbage database")
	}
}

func FuzzParseFile(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join(testenv.Corpus(f), "pkgdb", "rpm", "go-rpmdb-libuuid", "Packages"))
	if err == nil {
		f.Add(seed)
	}
	f.Add([]byte("\x00\x00\x00\x00\x61\x15\x06\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "Packages")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pkgs, _ := ParseFile(ctx, p)
		for _, p := range pkgs {
			if p.Type != "rpm" {
				t.Fatalf("bad type %q", p.Type)
			}
		}
	})
}
