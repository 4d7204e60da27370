package sla

import (
	"context"
	"fmt"
	"time"

	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/store"
)

// History is where the clocks' inputs are kept (the store).
type History interface {
	EachFinding(ctx context.Context, fn func(n int, r *store.FindingRecord) error) error
	TagPeriods(ctx context.Context) ([]store.TagPeriod, error)
	WorkloadPeriods(ctx context.Context) ([]store.WorkloadPeriod, error)
}

// Load reads the findings, tag and workload histories.
func Load(ctx context.Context, h History) ([]Finding, []TagPeriod, error) {
	var findings []Finding
	err := h.EachFinding(ctx, func(n int, r *store.FindingRecord) error {
		if findings == nil {
			findings = make([]Finding, 0, n)
		}
		findings = append(findings, finding(r))
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the findings history: %w", err)
	}
	periods, err := h.TagPeriods(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the tag history: %w", err)
	}
	wls, err := h.WorkloadPeriods(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the workload inventory: %w", err)
	}
	return findings, periodsOf(periods, wls), nil
}

func finding(r *store.FindingRecord) Finding {
	lvl, _ := severity.Parse(r.Severity) // an unknown name is Unknown: tracked, no deadline
	return Finding{Digest: r.Digest, Advisory: r.Advisory, Package: r.Package, Severity: lvl, Fixed: r.Fixed,
		FirstSeen: r.FirstSeen, FixSeen: r.FixSeen, ResolvedAt: r.ResolvedAt}
}

func periodsOf(tags []store.TagPeriod, wls []store.WorkloadPeriod) []TagPeriod {
	out := make([]TagPeriod, 0, len(tags)+len(wls))
	for _, p := range tags {
		out = append(out, TagPeriod{Repo: p.Repo, Tag: p.Tag, Digest: p.Digest, Since: p.Since, Until: p.Until})
	}
	for _, w := range wls {
		out = append(out, TagPeriod{Repo: w.Repo, Workload: w.Source + " " + w.Workload, Digest: w.Digest, Since: w.Since, Until: w.Until})
	}
	return out
}

// Keeper keeps the clocks up to date in the store: the history marks a
// repository stale in the transaction that changes it, and Refresh
// recomputes only the stale ones.
type Keeper interface {
	Clock() time.Time
	DirtySLARepos(ctx context.Context) ([]store.DirtyRepo, error)
	RepoHistory(ctx context.Context, repo string) ([]store.FindingRecord, []store.TagPeriod, []store.WorkloadPeriod, error)
	PutSLAClocks(ctx context.Context, repo string, gen int64, clocks []byte, n int) error
	EachSLAClocks(ctx context.Context, fn func(total int, repo string, clocks []byte) error) error
}

// Refresh recomputes the kept clocks of every stale repository, and
// returns how many repositories it recomputed. A repository that changes
// again meanwhile stays stale for the next call.
func Refresh(ctx context.Context, k Keeper) (int, error) {
	dirty, err := k.DirtySLARepos(ctx)
	if err != nil {
		return 0, fmt.Errorf("sla: stale repositories: %w", err)
	}
	for _, d := range dirty {
		now := k.Clock()
		recs, tags, wls, err := k.RepoHistory(ctx, d.Repo)
		if err != nil {
			return 0, fmt.Errorf("sla: history of %s: %w", d.Repo, err)
		}
		fs := make([]Finding, len(recs))
		for i := range recs {
			fs[i] = finding(&recs[i])
		}
		cs := Accumulate(now, fs, periodsOf(tags, wls))
		if err := k.PutSLAClocks(ctx, d.Repo, d.Gen, encodeClocks(cs), len(cs)); err != nil {
			return 0, fmt.Errorf("sla: keep the clocks of %s: %w", d.Repo, err)
		}
	}
	return len(dirty), nil
}

// Kept refreshes the stale repositories and returns every clock, judged
// at now: what Compute over the whole history gives, without reading it.
func Kept(ctx context.Context, k Keeper, now time.Time, pol Policy) ([]Clock, error) {
	if _, err := Refresh(ctx, k); err != nil {
		return nil, err
	}
	var out []Clock
	err := k.EachSLAClocks(ctx, func(total int, repo string, b []byte) error {
		if out == nil {
			out = make([]Clock, 0, total)
		}
		var err error
		out, err = decodeClocks(out, repo, b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sla: read the kept clocks: %w", err)
	}
	return Judge(now, pol, out), nil
}

// Store is what ClocksAt reads.
type Store interface {
	History
	Keeper
}

// Present is how far before the store's clock a report still counts as
// of now: a caller reads time.Now() a moment before the store does.
const Present = time.Minute

// ClocksAt returns the clocks at now: the kept clocks when now is the
// present (not before the store's own clock by more than Present), computed
// from the whole history otherwise (a report as of a past time, which
// must not count what happened since).
func ClocksAt(ctx context.Context, st Store, now time.Time, pol Policy) ([]Clock, error) {
	if !now.Before(st.Clock().Add(-Present)) {
		return Kept(ctx, st, now, pol)
	}
	findings, tags, err := Load(ctx, st)
	if err != nil {
		return nil, err
	}
	return Compute(now, pol, findings, tags), nil
}
