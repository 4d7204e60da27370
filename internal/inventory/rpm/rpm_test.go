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

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/testenv"
	"time"
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
	for _, db := range [][]string{{"go-rpmdb-libuuid", "Packages"}, {"scalibr-Packages_epoch", "Packages"}, {"go-rpmdb-sle15-bci", "Packages.db"}} {
		if seed, err := os.ReadFile(filepath.Join(append([]string{testenv.Corpus(f), "pkgdb", "rpm"}, db...)...)); err == nil && len(seed) < 4<<20 {
			f.Add(seed)
		}
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

// TestHostileBerkeleyDBEnds: the fuzzer's BerkeleyDB Packages file whose
// overflow chain never ended in go-rpmdb (it spun until killed) is read
// to an error, and a whole-root scan holding it ends with the file as a
// status entry.
func TestHostileBerkeleyDBEnds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseFile", "24c8f56985eaa75c"))
	if err != nil {
		t.Fatal(err)
	}
	_, lit, _ := strings.Cut(string(b), "\n")
	lit = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lit), "[]byte("), ")")
	content, err := strconv.Unquote(lit)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "var", "lib", "rpm"), 0o755)
	db := filepath.Join(root, "var", "lib", "rpm", "Packages")
	os.WriteFile(db, []byte(content), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := ParseFile(ctx, db); err == nil || ctx.Err() != nil {
		t.Fatalf("hostile Packages: %v (context %v)", err, ctx.Err())
	}
	img, err := image.Open(ctx, image.Ref{Kind: image.KindDir, Path: root, Raw: "dir:" + root}, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	res, err := (&inventory.Scanner{Extractors: []inventory.Extractor{Extractor{}}}).Scan(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Doc.Status) != 1 || res.Doc.Status[0].Cataloger != "rpm" || res.Doc.Status[0].Path != "var/lib/rpm/Packages" {
		t.Errorf("status %+v", res.Doc.Status)
	}
}
