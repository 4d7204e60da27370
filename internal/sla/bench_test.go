package sla

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// benchHistory is a registry of 10,000 images in 1,000 repositories with
// 100 findings each (1,000,000 findings), a third of them without a fix,
// and a tenth of the tags moved to a newer digest. shared is how many of
// an image's findings its repository's other images share (as versions
// of one application built on one base do); the rest are its own.
func benchHistory(shared int) ([]Finding, []TagPeriod) {
	var fs []Finding
	var tags []TagPeriod
	for img := 0; img < 10_000; img++ {
		d := fmt.Sprintf("sha256:%064d", img)
		repo := fmt.Sprintf("p%d/app%d", img%20, img%1000)
		tp := TagPeriod{Repo: repo, Tag: fmt.Sprintf("v%d", img/1000), Digest: d, Since: t0}
		if img%10 == 0 {
			tp.Until = h(40)
		}
		tags = append(tags, tp)
		for i := 0; i < 100; i++ {
			adv := fmt.Sprintf("CVE-2026-%05d", (img%1000*13+i)%5000)
			if i >= shared {
				adv = fmt.Sprintf("CVE-2025-%05d-%d", (img*7+i)%5000, img)
			}
			f := Finding{Digest: d, Advisory: adv, Package: fmt.Sprintf("pkg%d@1.0", i%50),
				Severity: severity.Level(1 + i%4), FirstSeen: h(i % 48)}
			if i%3 != 0 {
				f.Fixed, f.FixSeen = "1.1", h(i%48)
			}
			fs = append(fs, f)
		}
	}
	return fs, tags
}

// BenchmarkCompute: the clocks of 1,000,000 findings, when images of a
// repository share 90% of their findings (realistic) and none (the
// worst case: a million clocks).
func BenchmarkCompute(b *testing.B) {
	for _, shared := range []int{90, 0} {
		b.Run(fmt.Sprintf("shared=%d%%", shared), func(b *testing.B) {
			fs, tags := benchHistory(shared)
			var clocks int
			for b.Loop() {
				clocks = len(Compute(h(100), DefaultPolicy(), fs, tags))
			}
			b.ReportMetric(float64(len(fs)), "findings")
			b.ReportMetric(float64(clocks), "clocks")
		})
	}
}

// benchStore is a SQLite store holding the realistic history above
// (10,000 images, 1,000,000 findings). The rows are written in one
// transaction, around the store (a million scans' worth of upserts
// would take the benchmark's whole budget), and every repository is
// marked stale, as the migration marks an existing store's.
func benchStore(b *testing.B) (*store.Store, int) {
	fs, tags := benchHistory(90)
	dsn := filepath.Join(b.TempDir(), "bulwark.db")
	st := storetest.Open(b, dsn)
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	storetest.Bulk(b, dsn, func(exec func(string, ...any)) {
		for _, f := range fs {
			exec(`INSERT INTO finding_history (digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at, fix_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)`,
				f.Digest, f.Advisory, f.Package, f.Severity.String(), f.Fixed, ms(f.FirstSeen), ms(f.FirstSeen), ms(f.FixSeen))
		}
		for _, tp := range tags {
			exec(`INSERT INTO tag_history (repo, tag, digest, since, until_at) VALUES ($1, $2, $3, $4, $5)`, tp.Repo, tp.Tag, tp.Digest, ms(tp.Since), ms(tp.Until))
		}
		exec(`INSERT INTO sla_dirty (repo, gen) SELECT DISTINCT repo, 1 FROM tag_history`)
	})
	return st, len(fs)
}

// BenchmarkReport is `bulwark report sla --format json` on that store:
// the kept clocks (183,000) read, judged and written, with one
// repository's history changed before each report (a scan, a tag move:
// what an hour of a busy registry changes is a few). The first report
// on a store keeps every repository's clocks; its time is logged.
func BenchmarkReport(b *testing.B) {
	st, _ := benchStore(b)
	ctx := context.Background()
	st.Now = func() time.Time { return h(99) }
	start := time.Now()
	n, err := Refresh(ctx, st)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first refresh: %d repositories in %s", n, time.Since(start))
	var clocks int
	i := 0
	for b.Loop() {
		i++
		storetest.Tag(b, st, "p3/app3", fmt.Sprintf("sha256:%064d", 3), fmt.Sprintf("t%d", i))
		cs, err := ClocksAt(ctx, st, h(100), DefaultPolicy())
		if err != nil {
			b.Fatal(err)
		}
		clocks = len(cs)
		if err := NewReport(h(100), cs).WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(clocks), "clocks")
}

// BenchmarkReportAsOf is the report as of a past time, which computes
// every clock from the whole history (1,000,000 findings read).
func BenchmarkReportAsOf(b *testing.B) {
	st, nf := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		f, t, err := Load(ctx, st)
		if err != nil {
			b.Fatal(err)
		}
		if len(f) != nf {
			b.Fatalf("loaded %d findings, want %d", len(f), nf)
		}
		if err := NewReport(h(100), Compute(h(100), DefaultPolicy(), f, t)).WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
