package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/store"
)

// projectPolicy is a project's policy, or the server default.
func (s *Server) projectPolicy(ctx context.Context, project string) (*policy.PullPolicy, error) {
	raw, err := s.rawProjectPolicy(ctx, project)
	if err != nil {
		return nil, err
	}
	return policy.ParsePullPolicy([]byte(raw))
}

// rawProjectPolicy is a project's policy JSON, or the server's default.
func (s *Server) rawProjectPolicy(ctx context.Context, project string) (string, error) {
	raw, err := s.store.ProjectPolicy(ctx, project)
	if err != nil {
		return "", err
	}
	if raw == "" {
		raw = s.cfg.DefaultPolicy
	}
	return raw, nil
}

// immutable is the registry's tag guard. When the policy cannot be read
// it says immutable: refusing a tag move is the safe mistake.
func (s *Server) immutable(ctx context.Context, repo, tag string) bool {
	pol, err := s.projectPolicy(ctx, identity.Project(repo))
	if err != nil {
		return true
	}
	return pol.Immutable(tag)
}

// pullTouches throttles recording tag pulls (for retention) to one write
// per tag per hour.
type pullTouches struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *Server) touchTag(ctx context.Context, repo, tag string) {
	now := time.Now()
	key := repo + ":" + tag
	s.touches.mu.Lock()
	if s.touches.last == nil || len(s.touches.last) > 100000 {
		s.touches.last = map[string]time.Time{}
	}
	if now.Sub(s.touches.last[key]) < time.Hour {
		s.touches.mu.Unlock()
		return
	}
	s.touches.last[key] = now
	s.touches.mu.Unlock()
	if err := s.store.TouchTag(ctx, repo, tag, now); err != nil {
		s.cfg.Logger.Warn("record tag pull", "repo", repo, "tag", tag, "err", err)
	}
}

// sidecarTagRE matches the tags cosign keeps beside an image.
// It is compiled on first use, not at every command's start-up.
var sidecarTagRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^sha(256|512)-[a-f0-9]{64,128}(\.sig|\.att|\.sbom)?$`)
})

// Removal is one tag retention removed (with its manifest when nothing
// else referred to it).
type Removal struct {
	Repo     string `json:"repository"`
	Tag      string `json:"tag"`
	Digest   string `json:"digest"`
	Manifest bool   `json:"manifestRemoved"`
}

// ApplyRetention removes the tags a project's retention rule does not
// keep (dryRun: only lists them). Immutable tags are always kept. It
// touches the project's own repositories only, judges each tag by the
// policy of the project that owns it, and audits each removal under
// actor, with who configured the rule (the hourly run's actor is
// "system").
func (s *Server) ApplyRetention(ctx context.Context, project, actor string, dryRun bool, now time.Time) ([]Removal, error) {
	pol, err := s.projectPolicy(ctx, project)
	if err != nil {
		return nil, err
	}
	if pol.Retention == nil {
		return nil, nil
	}
	configuredBy, err := s.store.ProjectPolicyAuthor(ctx, project)
	if err != nil {
		return nil, err
	}
	if configuredBy == "" {
		configuredBy = "server configuration"
	}
	tags, err := s.store.ProjectTags(ctx, project)
	if err != nil {
		return nil, err
	}
	kept := map[string]int{}
	var out []Removal
	for _, t := range tags { // newest first per repository
		if identity.Project(t.Repo) != project {
			// Never another project's tag, whatever the store returned.
			return out, fmt.Errorf("retention of project %s was given %s:%s of another project: refusing to go on", project, t.Repo, t.Name)
		}
		if sidecarTagRE().MatchString(t.Name) {
			continue // cosign's signature tags go with their image
		}
		keep := kept[t.Repo] < pol.Retention.KeepLast || pol.Immutable(t.Name) ||
			(pol.Retention.PulledWithinDays > 0 && !t.Pulled.IsZero() && now.Sub(t.Pulled) < time.Duration(pol.Retention.PulledWithinDays)*24*time.Hour)
		if keep {
			kept[t.Repo]++
			continue
		}
		r := Removal{Repo: t.Repo, Tag: t.Name, Digest: t.Digest}
		if !dryRun {
			if err := s.store.DeleteTag(ctx, t.Repo, t.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return out, err
			}
			removed, err := s.removeIfOrphan(ctx, t.Repo, t.Digest)
			if err != nil {
				return out, err
			}
			r.Manifest = removed
			s.record(ctx, actor, audit.ActionRetentionRemove, t.Repo+":"+t.Name, audit.Success, map[string]any{"digest": t.Digest, "manifest_removed": removed, "configured_by": configuredBy})
		}
		out = append(out, r)
	}
	return out, nil
}

// removeIfOrphan deletes a manifest no tag and no other manifest refers
// to, with its referrers (signatures, attestations): their blobs become
// garbage for the collector.
func (s *Server) removeIfOrphan(ctx context.Context, repo, digest string) (bool, error) {
	tags, err := s.store.TagsOf(ctx, repo, digest)
	if err != nil || len(tags) > 0 {
		return false, err
	}
	if used, err := s.store.Referenced(ctx, repo, digest); err != nil || used {
		return false, err
	}
	refs, err := s.store.Referrers(ctx, repo, digest)
	if err != nil {
		return false, err
	}
	for _, r := range refs {
		if err := s.store.DeleteManifest(ctx, repo, r.Digest); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	// cosign's tags beside the image: .sig, .att, .sbom and the
	// referrers tag schema's index.
	alg, hex, _ := strings.Cut(digest, ":")
	for _, suffix := range []string{".sig", ".att", ".sbom", ""} {
		tag := alg + "-" + hex + suffix
		d, err := s.store.ResolveTag(ctx, repo, tag)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if err := s.store.DeleteManifest(ctx, repo, d); err != nil && !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	if err := s.store.DeleteManifest(ctx, repo, digest); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return true, nil
}

// Scheduled maintenance job kinds: exactly one replica runs each due
// run (retention and garbage collection must not race themselves).
const (
	kindHourly = "maintenance.hourly"
	kindDaily  = "maintenance.daily"
)

// maintain signs this replica's audit checkpoint hourly (each replica
// signs with its own key) and accounts rate-limited events, until ctx
// ends.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.flushLimits(ctx)
		// Sign the audit trail's head at least hourly, not only every
		// thousand records.
		if err := s.audit.Checkpoint(ctx); err != nil {
			s.cfg.Logger.Warn("audit checkpoint", "err", err)
		}
	}
}

// hourly runs retention for every project.
func (s *Server) hourly(ctx context.Context, _ *store.Job) error {
	projects, err := s.store.Projects(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range projects {
		if _, err := s.ApplyRetention(ctx, p, "system", false, time.Now()); err != nil {
			errs = append(errs, fmt.Errorf("retention of %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// daily collects garbage and prunes the audit trail past its retention.
func (s *Server) daily(ctx context.Context, _ *store.Job) error {
	if _, err := s.collect(ctx); err != nil {
		return err
	}
	n, err := s.audit.Prune(ctx, s.cfg.AuditRetention)
	if err != nil {
		return fmt.Errorf("audit retention: %w", err)
	}
	if n > 0 {
		s.record(ctx, "system", audit.ActionAuditPrune, "audit", audit.Success, map[string]any{"records": n, "retention": s.cfg.AuditRetention.String()})
	}
	// Runtime alerts are kept as long as the audit records of them.
	if _, err := s.store.PruneRuntimeEvents(ctx, time.Now().Add(-s.cfg.AuditRetention)); err != nil {
		return fmt.Errorf("runtime event retention: %w", err)
	}
	// So are benchmark runs, the evidence of what was checked when.
	if _, err := s.store.PruneBenchmarkRuns(ctx, time.Now().Add(-s.cfg.AuditRetention)); err != nil {
		return fmt.Errorf("benchmark run retention: %w", err)
	}
	return nil
}

func (s *Server) collect(ctx context.Context) (*registry.GCResult, error) {
	res, err := s.reg.CollectGarbage(ctx, time.Hour, 24*time.Hour)
	if err != nil {
		s.cfg.Logger.Warn("garbage collection", "err", err)
		return res, err
	}
	s.record(ctx, "system", audit.ActionGCRun, "blobs", audit.Success, map[string]any{"links": res.Links, "blobs": res.Blobs, "bytes": res.Bytes, "uploads": res.Uploads})
	return res, nil
}

func (s *Server) runRetention(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	project, err := s.project(r)
	if err != nil {
		return err
	}
	if err := s.needProjectAdmin(r, p, project); err != nil {
		return err
	}
	dry := r.URL.Query().Get("dryRun") == "true"
	removed, err := s.ApplyRetention(r.Context(), project, p.Name, dry, time.Now())
	if err != nil {
		return err
	}
	if removed == nil {
		removed = []Removal{}
	}
	return writeAPI(w, http.StatusOK, map[string]any{"dryRun": dry, "removed": removed})
}

func (s *Server) runGC(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if err := needAdmin(p); err != nil {
		return err
	}
	grace := time.Hour
	if g := r.URL.Query().Get("grace"); g != "" {
		d, err := time.ParseDuration(g)
		if err != nil || d < 0 {
			return apiErrorf(http.StatusBadRequest, "grace %q: want a duration such as 1h", g)
		}
		grace = d
	}
	res, err := s.reg.CollectGarbage(r.Context(), grace, 24*time.Hour)
	if err != nil {
		return fmt.Errorf("garbage collection: %w", err)
	}
	s.record(r.Context(), p.Name, audit.ActionGCRun, "blobs", audit.Success, map[string]any{"links": res.Links, "blobs": res.Blobs, "bytes": res.Bytes, "uploads": res.Uploads, "grace": grace.String()})
	return writeAPI(w, http.StatusOK, res)
}
