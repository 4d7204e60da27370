package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

func TestJobQueue(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if added, err := s.Enqueue(ctx, "scan", "sha256:a", "{}"); err != nil || !added {
			t.Fatalf("enqueue: %v %v", added, err)
		}
		if added, _ := s.Enqueue(ctx, "scan", "sha256:a", "{}"); added {
			t.Error("a pending job was enqueued twice")
		}
		j, err := s.Claim(ctx, time.Hour, "scan")
		if err != nil || j.Key != "sha256:a" || j.Attempts != 1 {
			t.Fatalf("claim: %+v %v", j, err)
		}
		if _, err := s.Claim(ctx, time.Hour, "scan"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a leased job was claimed again: %v", err)
		}
		// A failure queues it again; the last allowed attempt fails it.
		if err := s.Finish(ctx, j, errors.New("boom"), 2, 0); err != nil {
			t.Fatal(err)
		}
		j, err = s.Claim(ctx, time.Hour, "scan")
		if err != nil || j.Attempts != 2 {
			t.Fatalf("retry: %+v %v", j, err)
		}
		s.Finish(ctx, j, errors.New("boom again"), 2, 0)
		if st, msg, _ := s.JobState(ctx, "scan", "sha256:a"); st != "failed" || msg != "boom again" {
			t.Errorf("after the last attempt: %s %s", st, msg)
		}
		// A lapsed lease (the worker died) makes the job claimable.
		s.Enqueue(ctx, "scan", "sha256:b", "{}")
		if _, err := s.Claim(ctx, -time.Second, "scan"); err != nil {
			t.Fatal(err)
		}
		j, err = s.Claim(ctx, time.Hour, "scan")
		if err != nil || j.Key != "sha256:b" || j.Attempts != 2 {
			t.Errorf("reclaiming a dead worker's job: %+v %v", j, err)
		}
		s.Finish(ctx, j, nil, 3, 0)
		if st, _, _ := s.JobState(ctx, "scan", "sha256:b"); st != "done" {
			t.Errorf("state %s", st)
		}
		// Done jobs do not block a new one with the same key (a rescan).
		if added, _ := s.Enqueue(ctx, "scan", "sha256:b", "{}"); !added {
			t.Error("could not enqueue a rescan")
		}
	})
}

// TestClaimIsExclusive: eight workers claim fifty jobs concurrently; each
// job is taken exactly once.
func TestClaimIsExclusive(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i := 0; i < 50; i++ {
			s.Enqueue(ctx, "scan", fmt.Sprint(i), "{}")
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					j, err := s.Claim(ctx, time.Hour, "scan")
					if errors.Is(err, store.ErrNotFound) {
						return
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[j.Key]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 50 {
			t.Errorf("%d distinct jobs claimed, want 50", len(seen))
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("job %s claimed %d times", k, n)
			}
		}
	})
}

// BenchmarkQueue is one job's life in the store's queue: enqueue, claim,
// finish (the figure docs/dependencies.md compares with riverqueue).
func BenchmarkQueue(b *testing.B) {
	for _, dsn := range []string{"sqlite", "postgres"} {
		b.Run(dsn, func(b *testing.B) {
			var s *store.Store
			if dsn == "sqlite" {
				s = storetest.Open(b, b.TempDir()+"/b.db")
			} else {
				s = storetest.Open(b, storetest.PostgresDSN(b))
			}
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Enqueue(ctx, "bench", fmt.Sprint(i), "{}"); err != nil {
					b.Fatal(err)
				}
				j, err := s.Claim(ctx, time.Minute, "bench")
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Finish(ctx, j, nil, 3, time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
