package sla

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

// TestKeptEqualsComputed drives a real store (both databases) through a
// random history, as the registry, the scanner and the cluster inventory
// write it (tags pushed and moved, manifests deleted, scans that add,
// fix and drop findings, pods started and stopped), and after every
// event the kept clocks equal the clocks computed from the whole
// history: no write path forgets to mark its repository stale.
func TestKeptEqualsComputed(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := t0
		st.Now = func() time.Time { return now }
		rng := rand.New(rand.NewPCG(1, 2))
		repos := []string{"shop/app", "shop/web", "dev/tool"}
		digest := func() string { return fmt.Sprintf("sha256:%064d", rng.IntN(6)) }
		advisories := []store.FindingKey{
			{Advisory: "CVE-2026-1", Package: "openssl@3.0.1", Severity: "CRITICAL"},
			{Advisory: "CVE-2026-2", Package: "zlib@1.2", Severity: "HIGH"},
			{Advisory: "CVE-2026-3", Package: "curl@8.0", Severity: "MEDIUM"},
		}
		pods := map[string][]store.WorkloadImage{}
		for step := 0; step < 80; step++ {
			now = now.Add(time.Duration(1+rng.IntN(20)) * time.Hour)
			repo := repos[rng.IntN(len(repos))]
			var what string
			switch rng.IntN(5) {
			case 0, 1:
				d := digest()
				tag := fmt.Sprintf("v%d", rng.IntN(3))
				what = "tag " + repo + ":" + tag + " " + d[:12]
				storetest.Tag(t, st, repo, d, tag)
			case 2:
				d := digest()
				var fs []store.FindingKey
				for _, a := range advisories {
					if rng.IntN(2) == 0 {
						if rng.IntN(2) == 0 {
							a.Fixed = "9.9"
						}
						fs = append(fs, a)
					}
				}
				what = fmt.Sprintf("scan %s: %d findings", d[:12], len(fs))
				if err := st.RecordFindings(ctx, d, fs); err != nil {
					t.Fatal(err)
				}
			case 3:
				d := digest()
				what = "delete " + repo + "@" + d[:12]
				st.DeleteManifest(ctx, repo, d) // absent: nothing happens
			case 4:
				cluster := fmt.Sprintf("c%d", rng.IntN(2))
				ws := pods[cluster]
				if len(ws) > 0 && rng.IntN(2) == 0 {
					ws = ws[1:]
				} else {
					ws = append(ws, store.WorkloadImage{Workload: fmt.Sprintf("ns/pod-%d/app", step), Repo: repo, Digest: digest()})
				}
				pods[cluster] = ws
				what = fmt.Sprintf("inventory %s: %d pods", cluster, len(ws))
				if _, _, err := st.RecordWorkloads(ctx, cluster, ws); err != nil {
					t.Fatal(err)
				}
			}
			at := now.Add(time.Duration(rng.IntN(100)) * time.Hour)
			f, tags, err := Load(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			want := Compute(at, DefaultPolicy(), f, tags)
			got, err := Kept(ctx, st, at, DefaultPolicy())
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
				t.Fatalf("step %d (%s): kept clocks differ from computed (-computed +kept):\n%s", step, what, d)
			}
		}
		if n, err := Refresh(ctx, st); err != nil || n != 0 {
			t.Errorf("a second refresh recomputed %d repositories (%v), want none", n, err)
		}
	})
}

// TestClocksAtNowKeeps: a report of now (time.Now read a moment before
// the store reads its clock) uses and refreshes the kept clocks; a report
// of an hour ago computes from the history and leaves them stale.
func TestClocksAtNowKeeps(t *testing.T) {
	st := storetest.Open(t, filepath.Join(t.TempDir(), "b.db"))
	ctx := context.Background()
	storetest.Tag(t, st, "shop/app", "sha256:a1", "v1")
	stale := func() int {
		d, err := st.DirtySLARepos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(d)
	}
	if _, err := ClocksAt(ctx, st, time.Now().Add(-time.Hour), DefaultPolicy()); err != nil || stale() != 1 {
		t.Fatalf("an hour ago: %v, %d stale; want the history read and shop/app left stale", err, stale())
	}
	now := time.Now()
	time.Sleep(10 * time.Millisecond) // the store reads its clock later
	if _, err := ClocksAt(ctx, st, now, DefaultPolicy()); err != nil || stale() != 0 {
		t.Fatalf("now: %v, %d stale; want the kept clocks refreshed", err, stale())
	}
}
