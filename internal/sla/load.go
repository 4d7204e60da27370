package sla

import (
	"context"
	"fmt"

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
		lvl, _ := severity.Parse(r.Severity) // an unknown name is Unknown: tracked, no deadline
		findings = append(findings, Finding{Digest: r.Digest, Advisory: r.Advisory, Package: r.Package, Severity: lvl, Fixed: r.Fixed,
			FirstSeen: r.FirstSeen, FixSeen: r.FixSeen, ResolvedAt: r.ResolvedAt})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the findings history: %w", err)
	}
	periods, err := h.TagPeriods(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the tag history: %w", err)
	}
	tags := make([]TagPeriod, len(periods))
	for i, p := range periods {
		tags[i] = TagPeriod{Repo: p.Repo, Tag: p.Tag, Digest: p.Digest, Since: p.Since, Until: p.Until}
	}
	wls, err := h.WorkloadPeriods(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the workload inventory: %w", err)
	}
	for _, w := range wls {
		tags = append(tags, TagPeriod{Repo: w.Repo, Workload: w.Source + " " + w.Workload, Digest: w.Digest, Since: w.Since, Until: w.Until})
	}
	return findings, tags, nil
}
