package compliance

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/store/storetest"
)

// BenchmarkPlatform judges the platform facts of a store of 10,000
// tagged images in 1,000 repositories, each scanned with 100 findings
// (1,000,000), a tenth of them signed: the framework report's share of
// the store, as `report compliance --data` reads it after the patch
// clocks are kept (the first report keeps them; the server's hourly
// check does so continually). The rows are written around the store
// (storetest.Bulk).
func BenchmarkPlatform(b *testing.B) {
	dsn := filepath.Join(b.TempDir(), "bulwark.db")
	st := storetest.Open(b, dsn)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).UnixMilli()
	storetest.Bulk(b, dsn, func(exec func(string, ...any)) {
		for img := 0; img < 10_000; img++ {
			d := fmt.Sprintf("sha256:%064d", img)
			repo := fmt.Sprintf("p%d/app%d", img%20, img%1000)
			tag := fmt.Sprintf("v%d", img/1000)
			exec(`INSERT INTO manifests (repo, digest, media_type, content, created_at) VALUES ($1, $2, 'application/vnd.oci.image.manifest.v1+json', X'7B7D', $3)`, repo, d, t0)
			exec(`INSERT INTO tags (repo, name, digest, updated_at) VALUES ($1, $2, $3, $4)`, repo, tag, d, t0)
			exec(`INSERT INTO tag_history (repo, tag, digest, since) VALUES ($1, $2, $3, $4)`, repo, tag, d, t0)
			exec(`INSERT INTO scans (digest, repo, scanned_at, db_updated, critical, high, medium, low, unknown, findings) VALUES ($1, $2, $3, $4, 0, 0, 0, 0, 0, '[]')`, d, repo, t0, t0)
			if img%10 == 0 {
				sig := fmt.Sprintf("sha256:%064d", 1_000_000+img)
				exec(`INSERT INTO manifests (repo, digest, media_type, content, created_at) VALUES ($1, $2, 'application/vnd.oci.image.manifest.v1+json', X'7B7D', $3)`, repo, sig, t0)
				exec(`INSERT INTO tags (repo, name, digest, updated_at) VALUES ($1, $2, $3, $4)`, repo, fmt.Sprintf("sha256-%064d.sig", img), sig, t0)
			}
			for i := 0; i < 100; i++ {
				fixed, fixSeen := "", int64(0)
				if i%3 != 0 {
					fixed, fixSeen = "1.1", t0
				}
				exec(`INSERT INTO finding_history (digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at, fix_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)`,
					d, fmt.Sprintf("CVE-2026-%05d", (img%1000*13+i)%5000), fmt.Sprintf("pkg%d@1.0", i%50), []string{"LOW", "MEDIUM", "HIGH", "CRITICAL"}[i%4], fixed, t0, t0, fixSeen)
			}
		}
		exec(`INSERT INTO sla_dirty (repo, gen) SELECT DISTINCT repo, 1 FROM tag_history`)
	})
	ctx := context.Background()
	p := Platform{Store: st, Where: dsn, At: time.Now()}
	start := time.Now()
	var ev EvidenceSet
	if err := ev.AddPlatform(ctx, p); err != nil {
		b.Fatal(err)
	}
	b.Logf("first report (keeping every repository's patch clocks): %s", time.Since(start))
	fw, err := Load("nist-800-53")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var ev EvidenceSet
		if err := ev.AddPlatform(ctx, p); err != nil {
			b.Fatal(err)
		}
		if n := len(ev.byID["BW-IMAGE-SIGNED"]); n != 9_001 {
			b.Fatalf("%d signature results, want 9,000 unsigned and the pass", n)
		}
		rep := NewReport(fw, &ev, p.At, "bench")
		if err := WriteJSON(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
}
