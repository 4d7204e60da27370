package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/jobs"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

func waitState(t *testing.T, st *store.Store, kind, key, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		state, lastErr, err := st.JobState(context.Background(), kind, key)
		if err != nil {
			t.Fatal(err)
		}
		if state == want {
			return lastErr
		}
		time.Sleep(20 * time.Millisecond)
	}
	state, lastErr, _ := st.JobState(context.Background(), kind, key)
	t.Fatalf("%s %s: state %s (%s), want %s", kind, key, state, lastErr, want)
	return ""
}

// TestRunnerByKind: a worker claims only the kinds it runs (a scan worker
// never takes a benchmark job); failures retry with backoff until their
// attempts are spent, permanent ones and runs past the deadline fail at
// once, panics are failures, and the state is visible.
func TestRunnerByKind(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var flaky atomic.Int32
		r := &jobs.Runner{Store: st, Poll: 10 * time.Millisecond, Kinds: map[string]jobs.Kind{
			"ok": {Handle: func(context.Context, *store.Job) error { return nil }},
			"flaky": {Backoff: time.Millisecond, MaxAttempts: 3, Handle: func(context.Context, *store.Job) error {
				if flaky.Add(1) < 3 {
					return errors.New("not yet")
				}
				return nil
			}},
			"broken":    {Handle: func(context.Context, *store.Job) error { return &jobs.Permanent{Err: errors.New("cannot work")} }},
			"slow":      {Timeout: 50 * time.Millisecond, Handle: func(ctx context.Context, _ *store.Job) error { <-ctx.Done(); return ctx.Err() }},
			"panicking": {Handle: func(context.Context, *store.Job) error { panic("boom") }},
		}}
		go r.Work(ctx)
		// A kind no worker of this runner runs stays queued.
		if _, err := st.Enqueue(ctx, "benchmark", "cis", "{}"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"ok", "flaky", "broken", "slow", "panicking"} {
			if err := r.Enqueue(ctx, k, "k", "{}"); err != nil {
				t.Fatal(err)
			}
		}
		waitState(t, st, "ok", "k", "done")
		waitState(t, st, "flaky", "k", "done")
		if n := flaky.Load(); n != 3 {
			t.Errorf("flaky ran %d times, want 3", n)
		}
		for kind, want := range map[string]string{"broken": "cannot work", "slow": "deadline", "panicking": "panicked"} {
			if e := waitState(t, st, kind, "k", "failed"); !strings.Contains(e, want) {
				t.Errorf("%s failed with %q, want %q", kind, e, want)
			}
		}
		if state, _, _ := st.JobState(ctx, "benchmark", "cis"); state != "queued" {
			t.Errorf("a job of a kind the runner does not run was taken: %s", state)
		}
		js, err := st.Jobs(ctx, "", "failed", 10)
		if err != nil || len(js) != 3 {
			t.Errorf("failed jobs: %+v %v", js, err)
		}
		if err := r.Enqueue(ctx, "nonsense", "k", ""); err == nil {
			t.Error("a job of an unknown kind was queued")
		}
	})
}

// TestSchedulesFireOnce: two replicas sharing a store find the same run
// due; exactly one enqueues it. The clock is injected.
func TestSchedulesFireOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		kinds := map[string]jobs.Kind{"bench": {Handle: func(context.Context, *store.Job) error { return nil }}}
		a := &jobs.Runner{Store: storetest.Open(t, dsn), Kinds: kinds, Now: clock}
		b := &jobs.Runner{Store: storetest.Open(t, dsn), Kinds: kinds, Now: clock}
		if err := a.Schedule(ctx, "cis-weekly", "0 3 * * 1", "bench", `{"benchmark":"cis-docker"}`); err != nil {
			t.Fatal(err)
		}
		if err := a.Schedule(ctx, "bad", "every tuesday", "bench", ""); err == nil || !strings.Contains(err.Error(), "cron") {
			t.Errorf("a bad spec: %v", err)
		}
		for _, r := range []*jobs.Runner{a, b} {
			if n, err := r.FireDue(ctx); err != nil || n != 0 {
				t.Fatalf("before it is due: %d %v", n, err)
			}
		}
		now = time.Date(2026, 12, 7, 3, 0, 1, 0, time.UTC) // Monday, 03:00:01
		na, err := a.FireDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := b.FireDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if na+nb != 1 {
			t.Errorf("the due run fired %d times", na+nb)
		}
		js, _ := a.Store.Jobs(ctx, "bench", "", 10)
		if len(js) != 1 || js[0].Key != "cis-weekly@2026-12-07T03:00:00Z" {
			t.Errorf("jobs %+v", js)
		}
		scs, _ := a.Store.Schedules(ctx)
		for _, sc := range scs {
			if sc.Name == "cis-weekly" && !sc.Next.Equal(time.Date(2026, 12, 14, 3, 0, 0, 0, time.UTC)) {
				t.Errorf("next run %v, want the following Monday", sc.Next)
			}
		}
	})
}
