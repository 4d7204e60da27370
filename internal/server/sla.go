package server

import (
	"context"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/sla"
	"bulwark.dev/bulwark/internal/store"
)

const kindSLA = "sla.check"

func (s *Server) slaJob(ctx context.Context, _ *store.Job) error {
	_, err := s.CheckSLA(ctx, time.Now())
	return err
}

// CheckSLA computes the patch clocks at now and announces each new
// warning and breach once, in the audit trail (and so to the SIEM
// exporters and their webhooks), however many replicas run the check:
// the store records each notice once. It returns how many it announced.
func (s *Server) CheckSLA(ctx context.Context, now time.Time) (int, error) {
	pol := s.cfg.SLA
	if pol.Due == nil {
		pol.Due = sla.DefaultPolicy().Due
	}
	clocks, err := sla.ClocksAt(ctx, s.store, now, pol)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range clocks {
		action, outcome := audit.ActionSLAWarning, audit.Success
		switch c.State {
		case sla.Warning:
		case sla.Breached:
			action, outcome = audit.ActionSLABreach, audit.Failure
		default:
			continue
		}
		first, err := s.store.Notice(ctx, c.Key(), action.String(), now)
		if err != nil {
			return n, err
		}
		if !first {
			continue
		}
		n++
		s.record(ctx, "system", action, c.Repo, outcome, map[string]any{
			"vulnerability": c.Advisory, "package": c.Package, "severity": c.Severity.String(), "fixed_version": c.Fixed,
			"start": c.Start.UTC().Format(time.RFC3339), "due": c.Due.UTC().Format(time.RFC3339),
			"digests": c.Digests, "tags": c.Tags,
		})
	}
	return n, nil
}
