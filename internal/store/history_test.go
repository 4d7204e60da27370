package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestFindingHistory: each rescan is compared with the record, on an
// injected clock: findings keep their first sighting, gain a last one,
// are resolved when a rescan no longer reports them, and open again
// (first sighting kept) when they come back.
func TestFindingHistory(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		now := t0
		s.Now = func() time.Time { return now }
		k := func(id string) store.FindingKey {
			return store.FindingKey{Advisory: id, Package: "pkg:deb/debian/openssl@3.0.1", Severity: "HIGH"}
		}
		scan := func(at time.Duration, ids ...string) {
			now = t0.Add(at)
			var ks []store.FindingKey
			for _, id := range ids {
				ks = append(ks, k(id))
			}
			if err := s.RecordFindings(ctx, "sha256:d", ks); err != nil {
				t.Fatal(err)
			}
		}
		scan(0, "CVE-A", "CVE-B")
		scan(24*time.Hour, "CVE-B", "CVE-C")
		scan(72*time.Hour, "CVE-A")
		got, err := s.FindingHistory(ctx, "sha256:d")
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			ID                string
			First, Last, Gone time.Duration
		}
		var rows []row
		for _, r := range got {
			gone := time.Duration(-1)
			if !r.ResolvedAt.IsZero() {
				gone = r.ResolvedAt.Sub(t0)
			}
			rows = append(rows, row{r.Advisory, r.FirstSeen.Sub(t0), r.LastSeen.Sub(t0), gone})
		}
		want := []row{
			{"CVE-A", 0, 72 * time.Hour, -1}, // resolved at 24h, back at 72h
			{"CVE-B", 0, 24 * time.Hour, 72 * time.Hour},
			{"CVE-C", 24 * time.Hour, 24 * time.Hour, 72 * time.Hour},
		}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("history (-want +got):\n%s", diff)
		}
	})
}

// TestTagHistoryAndImmutablePushes: which digest a tag named when, and a
// push refused by an immutable tag changes nothing at all (neither the
// manifest nor its other tags).
func TestTagHistoryAndImmutablePushes(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		now := t0
		s.Now = func() time.Time { return now }
		m := func(d string) *store.Manifest {
			return &store.Manifest{Repo: "shop/app", Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Content: []byte(`{"schemaVersion":2}`)}
		}
		if err := s.PutManifestTags(ctx, m("sha256:1"), []string{"latest"}, []string{"v1"}); err != nil {
			t.Fatal(err)
		}
		now = t0.Add(time.Hour)
		err := s.PutManifestTags(ctx, m("sha256:2"), []string{"latest"}, []string{"v1"})
		var it *store.ImmutableTagError
		if !errors.As(err, &it) || it.Tag != "v1" || it.Digest != "sha256:1" {
			t.Fatalf("moving an immutable tag: %v", err)
		}
		if _, err := s.GetManifest(ctx, "shop/app", "sha256:2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the refused manifest was stored: %v", err)
		}
		if d, _ := s.ResolveTag(ctx, "shop/app", "latest"); d != "sha256:1" {
			t.Errorf("the refused push moved latest to %s", d)
		}
		if err := s.PutManifest(ctx, m("sha256:2"), "latest"); err != nil {
			t.Fatal(err)
		}
		now = t0.Add(2 * time.Hour)
		if err := s.DeleteTag(ctx, "shop/app", "latest"); err != nil {
			t.Fatal(err)
		}
		got, err := s.TagHistory(ctx, "shop/app", "latest")
		if err != nil {
			t.Fatal(err)
		}
		want := []store.TagPeriod{
			{Repo: "shop/app", Tag: "latest", Digest: "sha256:1", Since: t0, Until: t0.Add(time.Hour)},
			{Repo: "shop/app", Tag: "latest", Digest: "sha256:2", Since: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour)},
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("tag history (-want +got):\n%s", diff)
		}
		all, err := s.TagPeriods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v1 := store.TagPeriod{Repo: "shop/app", Tag: "v1", Digest: "sha256:1", Since: t0}
		if diff := cmp.Diff(append(want, v1), all, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Errorf("every tag's history (-want +got):\n%s", diff)
		}
	})
}

// TestFixSeenAndNotices: a finding recorded without a fix starts its
// patch clock when a rescan first reports one, and keeps that time; a
// notice is recorded once, however often it is given.
func TestFixSeenAndNotices(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		now := t0
		s.Now = func() time.Time { return now }
		rec := func(at time.Duration, fixed string) {
			now = t0.Add(at)
			f := store.FindingKey{Advisory: "CVE-A", Package: "openssl@3.0.1", Severity: "HIGH", Fixed: fixed}
			if err := s.RecordFindings(ctx, "sha256:d", []store.FindingKey{f}); err != nil {
				t.Fatal(err)
			}
		}
		rec(0, "")
		rec(24*time.Hour, "")
		rec(48*time.Hour, "3.0.2")
		rec(96*time.Hour, "3.0.2")
		var got []store.FindingRecord
		if err := s.EachFinding(ctx, func(n int, r *store.FindingRecord) error {
			if n != 1 {
				t.Errorf("EachFinding says %d findings, want 1", n)
			}
			got = append(got, *r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].FirstSeen.Equal(t0) || !got[0].FixSeen.Equal(t0.Add(48*time.Hour)) || got[0].Fixed != "3.0.2" {
			t.Errorf("got %+v; want first seen at 0, its fix at 48h", got)
		}
		for i, want := range []bool{true, false} {
			first, err := s.Notice(ctx, "shop/app CVE-A openssl@3.0.1", "breach", now)
			if err != nil || first != want {
				t.Errorf("notice %d: %v, %v; want %v", i, first, err, want)
			}
		}
		if first, err := s.Notice(ctx, "shop/app CVE-A openssl@3.0.1", "warning", now); err != nil || !first {
			t.Errorf("another kind of notice: %v, %v", first, err)
		}
	})
}
