package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestWorkloadInventory: each inventory replaces its source's last one:
// workloads seen again keep their period, a new digest ends the old
// period and starts one, a workload gone ends its period, and another
// source's inventory is left alone.
func TestWorkloadInventory(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		now := t0
		s.Now = func() time.Time { return now }
		record := func(at time.Duration, source string, wantStarted, wantEnded int, ws ...store.WorkloadImage) {
			t.Helper()
			now = t0.Add(at)
			st, en, err := s.RecordWorkloads(ctx, source, ws)
			if err != nil || st != wantStarted || en != wantEnded {
				t.Errorf("at %s, %s: started %d, ended %d, %v; want %d, %d", at, source, st, en, err, wantStarted, wantEnded)
			}
		}
		web := store.WorkloadImage{Workload: "shop/web-1/app", Repo: "shop/web", Digest: "sha256:w1"}
		db := store.WorkloadImage{Workload: "shop/db-0/db", Repo: "shop/db", Digest: "sha256:d1"}
		record(0, "prod", 2, 0, web, db, web) // a duplicate counts once
		record(0, "staging", 1, 0, web)
		record(time.Hour, "prod", 0, 0, db, web)
		web2 := web
		web2.Digest = "sha256:w2"
		record(2*time.Hour, "prod", 1, 1, web2, db)
		record(3*time.Hour, "prod", 0, 1, web2)
		record(4*time.Hour, "prod", 0, 1)
		got, err := s.WorkloadPeriods(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Source, Workload, Digest string
			Since, Until             time.Duration
		}
		var rows []row
		for _, p := range got {
			until := time.Duration(-1)
			if !p.Until.IsZero() {
				until = p.Until.Sub(t0)
			}
			rows = append(rows, row{p.Source, p.Workload, p.Digest, p.Since.Sub(t0), until})
		}
		want := []row{
			{"prod", "shop/db-0/db", "sha256:d1", 0, 3 * time.Hour},
			{"prod", "shop/web-1/app", "sha256:w1", 0, 2 * time.Hour},
			{"prod", "shop/web-1/app", "sha256:w2", 2 * time.Hour, 4 * time.Hour},
			{"staging", "shop/web-1/app", "sha256:w1", 0, -1},
		}
		if d := cmp.Diff(want, rows); d != "" {
			t.Errorf("workload periods (-want +got):\n%s", d)
		}
	})
}
