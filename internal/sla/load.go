package sla

import (
	"context"
	"fmt"

	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/store"
)

// History is where the clocks' inputs are kept (the store).
type History interface {
	Findings(ctx context.Context) ([]store.FindingRecord, error)
	TagPeriods(ctx context.Context) ([]store.TagPeriod, error)
}

// Load reads the findings and tag histories.
func Load(ctx context.Context, h History) ([]Finding, []TagPeriod, error) {
	recs, err := h.Findings(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the findings history: %w", err)
	}
	periods, err := h.TagPeriods(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sla: read the tag history: %w", err)
	}
	findings := make([]Finding, len(recs))
	for i, r := range recs {
		lvl, _ := severity.Parse(r.Severity) // an unknown name is Unknown: tracked, no deadline
		findings[i] = Finding{Digest: r.Digest, Advisory: r.Advisory, Package: r.Package, Severity: lvl, Fixed: r.Fixed,
			FirstSeen: r.FirstSeen, FixSeen: r.FixSeen, ResolvedAt: r.ResolvedAt}
	}
	tags := make([]TagPeriod, len(periods))
	for i, p := range periods {
		tags[i] = TagPeriod{Repo: p.Repo, Tag: p.Tag, Digest: p.Digest, Since: p.Since, Until: p.Until}
	}
	return findings, tags, nil
}
