package vulndb

import (
	"archive/zip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "vuln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestImportGoVulnDB imports every record of the Go vulnerability
// database in the corpus.
func TestImportGoVulnDB(t *testing.T) {
	dir := testenv.CorpusPath(t, "osv", "go-vulndb")
	files, _ := filepath.Glob(filepath.Join(dir, "GO-*.json"))
	if len(files) < 4000 {
		t.Fatalf("only %d records in the corpus", len(files))
	}
	db := openTemp(t)
	res, err := db.Import(context.Background(), []string{dir}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Errorf("%d problems, first: %v", len(res.Problems), res.Problems[0])
	}
	st, err := db.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != len(files) || st.Records != len(files) {
		t.Errorf("imported %d, stored %d, files %d", res.Imported, st.Records, len(files))
	}
	if st.PerEco["Go"] == 0 {
		t.Errorf("no Go records: %v", st.PerEco)
	}
	vs, err := db.Query(context.Background(), "Go", "golang.org/x/text")
	if err != nil || len(vs) == 0 {
		t.Fatalf("x/text advisories: %d, %v", len(vs), err)
	}
}

func TestMalformedRecordsAreSkipped(t *testing.T) {
	dir := t.TempDir()
	good, _ := os.ReadFile(testenv.CorpusPath(t, "osv", "go-vulndb", "GO-2020-0015.json"))
	files := map[string]string{
		"good.json":      string(good),
		"truncated.json": string(good[:len(good)/2]),
		"noid.json":      `{"modified":"2020-01-01T00:00:00Z"}`,
		"badevent.json":  `{"id":"BAD-1","modified":"x","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`,
	}
	for n, b := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644)
	}
	// The same records in a zip archive, as osv.dev serves them.
	zf, _ := os.Create(filepath.Join(dir, "all.zip"))
	zw := zip.NewWriter(zf)
	w, _ := zw.Create("GO-2020-0015.json")
	w.Write(good)
	zw.Close()
	zf.Close()
	db := openTemp(t)
	res, err := db.Import(context.Background(), []string{dir}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 2 {
		t.Errorf("imported %d, want 2 (good.json and the zip's record)", res.Imported)
	}
	var got []string
	for _, p := range res.Problems {
		got = append(got, filepath.Base(p.File)+" "+p.ID)
	}
	sort.Strings(got)
	want := []string{"badevent.json BAD-1", "noid.json ", "truncated.json "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestSecdbLayoutsAgree imports the Alpine 3.18 secfixes in both
// layouts; they must yield the same advisories.
func TestSecdbLayoutsAgree(t *testing.T) {
	flat := func(paths ...string) []string {
		db := openTemp(t)
		if _, err := db.Import(context.Background(), paths, time.Now()); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, pkg := range []string{"openssl", "busybox", "musl", "zlib", "apk-tools"} {
			vs, err := db.Query(context.Background(), "Alpine:v3.18", pkg)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				for _, a := range v.Affected {
					if a.Package.Name == pkg {
						out = append(out, v.ID+" "+pkg+" "+a.Ranges[0].Events[1].Fixed)
					}
				}
			}
		}
		sort.Strings(out)
		return out
	}
	perPkg := flat(testenv.CorpusPath(t, "secdb", "alpine", "3.18"))
	published := flat(testenv.CorpusPath(t, "secdb", "alpine-secdb-format", "v3.18-main.json"))
	if len(perPkg) < 20 {
		t.Fatalf("only %d advisories", len(perPkg))
	}
	if diff := cmp.Diff(perPkg, published); diff != "" {
		t.Errorf("layouts disagree (-vuln-list +alpine):\n%s", diff)
	}
	for _, s := range perPkg {
		if strings.HasSuffix(s, " 0") {
			t.Errorf("the never-affected key became an advisory: %s", s)
		}
	}
}

// TestSecdbReleasesAccumulate imports the 3.18, 3.19 and 3.20 secfixes,
// which name the same CVEs: every release must keep its advisories, also
// when the releases come in separate imports.
func TestSecdbReleasesAccumulate(t *testing.T) {
	count := func(db *DB, eco string) int {
		n := 0
		for _, pkg := range []string{"openssl", "busybox", "musl", "zlib"} {
			vs, err := db.Query(context.Background(), eco, pkg)
			if err != nil {
				t.Fatal(err)
			}
			n += len(vs)
		}
		return n
	}
	alone := map[string]int{}
	for _, rel := range []string{"3.18", "3.19", "3.20"} {
		db := openTemp(t)
		if _, err := db.Import(context.Background(), []string{testenv.CorpusPath(t, "secdb", "alpine", rel)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		alone[rel] = count(db, "Alpine:v"+rel)
		if alone[rel] == 0 {
			t.Fatalf("%s: no advisories", rel)
		}
	}
	together := openTemp(t)
	if _, err := together.Import(context.Background(), []string{testenv.CorpusPath(t, "secdb", "alpine")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	separate := openTemp(t)
	for _, rel := range []string{"3.20", "3.18", "3.19"} {
		if _, err := separate.Import(context.Background(), []string{testenv.CorpusPath(t, "secdb", "alpine", rel)}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for rel, n := range alone {
		if got := count(together, "Alpine:v"+rel); got != n {
			t.Errorf("one import: %s has %d advisories, alone %d", rel, got, n)
		}
		if got := count(separate, "Alpine:v"+rel); got != n {
			t.Errorf("separate imports: %s has %d advisories, alone %d", rel, got, n)
		}
	}
}

func FuzzParseVuln(f *testing.F) {
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"Go","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`))
	f.Add([]byte(`{"name":"musl","secfixes":{"1.2.4-r1":["CVE-1 CVE-2"],"0":["CVE-3"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseVuln(b)
		ParseSecdb(b, "v3.18")
	})
}

func TestWithdrawnRecordsDoNotMatch(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "GO-W.json"), []byte(`{"id":"GO-W","modified":"2024-01-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Go","name":"example.com/w"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "GO-K.json"), []byte(`{"id":"GO-K","modified":"2024-01-01T00:00:00Z",
	  "affected":[{"package":{"ecosystem":"Go","name":"example.com/w"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o644)
	db := openTemp(t)
	if _, err := db.Import(context.Background(), []string{dir}, time.Now()); err != nil {
		t.Fatal(err)
	}
	cs, err := db.Candidates(context.Background(), "Go", "example.com/w")
	if err != nil || len(cs) != 1 || cs[0].ID != "GO-K" {
		t.Errorf("candidates: %+v %v", cs, err)
	}
}

// TestImportOfNothingChangesNothing: an input without one valid record
// (an empty YAML file, a docker save tarball, a directory of malformed
// records) is an error naming it, and the database, its update time
// included, stays as it was, even when other inputs were fine.
func TestImportOfNothingChangesNothing(t *testing.T) {
	dir := t.TempDir()
	good := testenv.CorpusPath(t, "osv", "go-vulndb", "GO-2020-0015.json")
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	bad := filepath.Join(dir, "bad")
	os.Mkdir(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "x.json"), []byte(`{"modified":"2020-01-01T00:00:00Z"}`), 0o644)
	tarball := testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")

	db := openTemp(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := db.Import(ctx, []string{good}, t0); err != nil {
		t.Fatal(err)
	}
	for _, paths := range [][]string{{empty}, {tarball}, {bad}, {good, empty}} {
		_, err := db.Import(ctx, paths, t0.Add(time.Hour))
		if !errors.Is(err, ErrNoAdvisories) || !strings.Contains(err.Error(), paths[len(paths)-1]) {
			t.Errorf("import %v: %v, want ErrNoAdvisories naming the input", paths, err)
		}
		records, updated, err := db.Info(ctx)
		if err != nil || records != 1 || !updated.Equal(t0) {
			t.Errorf("after import %v: %d records updated %v (%v), want 1 at %v", paths, records, updated, err, t0)
		}
	}
}

// TestUpgradeFormat2: a database written before the alias index existed
// opens, gains the index from its records, and finds related records.
func TestUpgradeFormat2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vuln.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.Import(ctx, []string{testenv.CorpusPath(t, "osv", "osv-dev-testdata")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE aliases`, `PRAGMA user_version = 2`} {
		if _, err := db.db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if db, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rel, err := db.Related(ctx, &Vuln{ID: "CVE-2021-38555"})
	if err != nil || len(rel) != 1 || rel[0].ID != "GHSA-838r-hvwh-24h8" {
		t.Errorf("related to CVE-2021-38555 after the upgrade: %v, %v", rel, err)
	}
}
