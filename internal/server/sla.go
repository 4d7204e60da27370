package server

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/identity"
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
	clocks, err := sla.ClocksAt(ctx, s.store, now, s.cfg.SLA)
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

// slaReport is GET /api/v1/sla: the patch clocks now, as report sla
// --format json writes them. Administrators see every project; anyone
// else names a project they may pull from (?project=), and sees only
// its clocks. ?state=breached,warning keeps those states.
func (s *Server) slaReport(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needLogin(p); err != nil {
		return err
	}
	q := r.URL.Query()
	project := q.Get("project")
	switch {
	case project == "" && !p.Admin:
		return apiErrorf(http.StatusForbidden, "%s is not an administrator: give ?project=NAME, a project you may pull from", p.Name)
	case project != "" && !projectNameRE.MatchString(project):
		return apiErrorf(http.StatusBadRequest, "project %q is not a project name", project)
	case project != "":
		ok, err := s.auth.Allowed(r.Context(), p, project+"/", []string{identity.Pull})
		if err != nil {
			return err
		}
		if len(ok) == 0 {
			return apiErrorf(http.StatusForbidden, "%s may not pull from project %s", p.Name, project)
		}
	}
	var states []sla.State
	if v := q.Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			switch x := sla.State(st); x {
			case sla.Breached, sla.Warning, sla.Open, sla.NoFix, sla.Late, sla.Met:
				states = append(states, x)
			default:
				return apiErrorf(http.StatusBadRequest, "state %q: want breached, warning, open, no-fix, late or met", st)
			}
		}
	}
	now := time.Now()
	clocks, err := sla.ClocksAt(r.Context(), s.store, now, s.cfg.SLA)
	if err != nil {
		return err
	}
	kept := clocks[:0]
	for _, c := range clocks {
		if (project == "" || c.Project == project) && (states == nil || slices.Contains(states, c.State)) {
			kept = append(kept, c)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	return sla.NewReport(now, kept).WriteJSON(w)
}
