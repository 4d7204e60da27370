package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestRuntimeEvents: a batch sent twice (a lost reply, a spool resent)
// adds each event once; queries select by container and rule, newest
// first; pruning removes what is past retention.
func TestRuntimeEvents(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
		ev := func(id string, at time.Duration, rule, container string) store.RuntimeEvent {
			return store.RuntimeEvent{UUID: id, Received: t0.Add(time.Hour), At: t0.Add(at), Reporter: "robot$node1", Hostname: "node1",
				Rule: rule, Priority: "Warning", ContainerID: "c0ffee" + container, ContainerName: container, Body: `{"rule":"` + rule + `"}`}
		}
		batch := []store.RuntimeEvent{ev("u1", 0, "Shell", "web"), ev("u2", time.Minute, "Shell", "db"), ev("u3", 2*time.Minute, "Drift", "web")}
		added, err := s.AddRuntimeEvents(ctx, batch[:2])
		if err != nil || len(added) != 2 {
			t.Fatalf("first batch: %d added, %v", len(added), err)
		}
		added, err = s.AddRuntimeEvents(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(added) != 1 || added[0].UUID != "u3" {
			t.Fatalf("resent batch added %v, want only u3", added)
		}
		ids := func(q store.RuntimeQuery) []string {
			got, err := s.RuntimeEvents(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range got {
				out = append(out, e.UUID)
			}
			return out
		}
		for _, tc := range []struct {
			q    store.RuntimeQuery
			want []string
		}{
			{store.RuntimeQuery{}, []string{"u3", "u2", "u1"}},
			{store.RuntimeQuery{Container: "web"}, []string{"u3", "u1"}},
			{store.RuntimeQuery{Container: "c0ffeedb"}, []string{"u2"}},
			{store.RuntimeQuery{Rule: "Shell"}, []string{"u2", "u1"}},
			{store.RuntimeQuery{Since: t0.Add(time.Minute)}, []string{"u3", "u2"}},
			{store.RuntimeQuery{Limit: 1}, []string{"u3"}},
		} {
			if d := cmp.Diff(tc.want, ids(tc.q)); d != "" {
				t.Errorf("%+v (-want +got):\n%s", tc.q, d)
			}
		}
		got, _ := s.RuntimeEvents(ctx, store.RuntimeQuery{Rule: "Drift"})
		if d := cmp.Diff([]store.RuntimeEvent{batch[2]}, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
			t.Errorf("stored event (-want +got):\n%s", d)
		}
		n, err := s.PruneRuntimeEvents(ctx, t0.Add(90*time.Second))
		if err != nil || n != 2 {
			t.Fatalf("prune: %d, %v", n, err)
		}
		if d := cmp.Diff([]string{"u3"}, ids(store.RuntimeQuery{})); d != "" {
			t.Errorf("after prune (-want +got):\n%s", d)
		}
	})
}
