package vulndb

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/testenv"
)

// bigArchive writes an all.zip of n records made from the corpus's real
// Go and Maven records, each copy under a new ID and package name so the
// index grows as a real multi-ecosystem database does.
func bigArchive(b *testing.B, n int) string {
	b.Helper()
	var recs []map[string]any
	for _, d := range []string{"go-vulndb", "ghsa-maven"} {
		files, _ := filepath.Glob(testenv.CorpusPath(b, "osv", d, "*.json"))
		for _, f := range files {
			raw, _ := os.ReadFile(f)
			var m map[string]any
			if json.Unmarshal(raw, &m) == nil {
				recs = append(recs, m)
			}
		}
	}
	file := filepath.Join(b.TempDir(), "all.zip")
	out, _ := os.Create(file)
	zw := zip.NewWriter(out)
	for i := 0; i < n; i++ {
		m := recs[i%len(recs)]
		m["id"] = fmt.Sprintf("BENCH-%06d", i)
		copyNo := i / len(recs)
		for _, a := range m["affected"].([]any) {
			p := a.(map[string]any)["package"].(map[string]any)
			if copyNo > 0 {
				p["name"] = fmt.Sprintf("%s-%d", p["name"], copyNo)
			}
		}
		body, _ := json.Marshal(m)
		w, _ := zw.Create(m["id"].(string) + ".json")
		w.Write(body)
		// Undo the rename for the next copy.
		for _, a := range m["affected"].([]any) {
			p := a.(map[string]any)["package"].(map[string]any)
			if copyNo > 0 {
				s := p["name"].(string)
				p["name"] = s[:len(s)-len(fmt.Sprintf("-%d", copyNo))]
			}
		}
	}
	zw.Close()
	out.Close()
	return file
}

// BenchmarkImport100k imports 100,000 records (the bar: under a
// minute on this machine).
func BenchmarkImport100k(b *testing.B) {
	file := bigArchive(b, 100000)
	for b.Loop() {
		db, err := Open(filepath.Join(b.TempDir(), "vuln.db"))
		if err != nil {
			b.Fatal(err)
		}
		res, err := db.Import(context.Background(), []string{file}, time.Now())
		db.Close()
		if err != nil || res.Imported != 100000 {
			b.Fatalf("%v %d", err, res.Imported)
		}
	}
}

// BenchmarkLookup1000 looks up 1,000 distinct packages, spread evenly
// over every package a 100,000-record database names, the way a scan does
// (candidates per package; whole records only for matches). The bar:
// well under 100 ms.
func BenchmarkLookup1000(b *testing.B) {
	file := bigArchive(b, 100000)
	db, err := Open(filepath.Join(b.TempDir(), "vuln.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Import(ctx, []string{file}, time.Now()); err != nil {
		b.Fatal(err)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT DISTINCT ecosystem, name FROM affected ORDER BY ecosystem, name`)
	if err != nil {
		b.Fatal(err)
	}
	var all [][2]string
	for rows.Next() {
		var k [2]string
		rows.Scan(&k[0], &k[1])
		all = append(all, k)
	}
	rows.Close()
	if len(all) < 1000 {
		b.Fatalf("only %d packages", len(all))
	}
	var pick [][2]string
	for i := 0; i < 1000; i++ {
		pick = append(pick, all[i*len(all)/1000])
	}
	b.ResetTimer()
	for b.Loop() {
		found := 0
		for _, k := range pick {
			cs, err := db.Candidates(ctx, k[0], k[1])
			if err != nil {
				b.Fatal(err)
			}
			found += len(cs)
		}
		if found < 1000 {
			b.Fatalf("found %d", found)
		}
	}
}
