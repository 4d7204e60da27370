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
}

// Load reads the findings and tag histories.
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
	return findings, tags, nil
}
