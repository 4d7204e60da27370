package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestSLANotices: the hourly check announces a clock's warning and its
// breach in the audit trail once each, however often it runs and on
// however many replicas, and says nothing of a clock that stopped.
func TestSLANotices(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		ts := start(t, dsn)
		t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		now := t0
		ts.store.Now = func() time.Time { return now }
		storetest.Tag(t, ts.store, "shop/app", "sha256:a1", "v1")
		storetest.Tag(t, ts.store, "shop/web", "sha256:w1", "v1")
		for _, d := range []string{"sha256:a1", "sha256:w1"} {
			if err := ts.store.RecordFindings(ctx, d, []store.FindingKey{{Advisory: "CVE-2026-1000", Package: "openssl@3.0.1", Severity: "CRITICAL", Fixed: "3.0.2"}}); err != nil {
				t.Fatal(err)
			}
		}
		now = t0.Add(5 * time.Hour)
		storetest.Tag(t, ts.store, "shop/web", "sha256:w2", "v1") // fixed in time: never announced
		for _, step := range []struct {
			at   time.Duration
			want int
		}{{10 * time.Hour, 0}, {60 * time.Hour, 1}, {61 * time.Hour, 0}, {73 * time.Hour, 1}, {90 * time.Hour, 0}} {
			n, err := ts.CheckSLA(ctx, t0.Add(step.at))
			if err != nil || n != step.want {
				t.Errorf("at %s: %d notices, %v; want %d", step.at, n, err, step.want)
			}
		}
		var got []string
		ts.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
			if strings.HasPrefix(r.Action, "sla.") {
				got = append(got, r.Action+" "+r.Object+" "+r.Outcome)
				if !strings.Contains(r.Detail, `"vulnerability":"CVE-2026-1000"`) || !strings.Contains(r.Detail, `"due":"2026-11-05T09:00:00Z"`) {
					t.Errorf("notice without its evidence: %s", r.Detail)
				}
			}
			return nil
		})
		if strings.Join(got, "; ") != "sla.warning shop/app success; sla.breach shop/app failure" {
			t.Errorf("audit notices: %v", got)
		}
		if strings.HasPrefix(dsn, "postgres") {
			// A second replica on the same store announces nothing again.
			other := start(t, dsn)
			if n, err := other.CheckSLA(ctx, t0.Add(100*time.Hour)); err != nil || n != 0 {
				t.Errorf("second replica: %d notices, %v", n, err)
			}
		}
	})
}
