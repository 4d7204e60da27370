package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/scanner"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/verdict"
)

// pullGate decides, per project and digest, whether the registry may
// serve an image. Decisions are cached; a new scan result or policy on
// this replica invalidates them at once, other replicas' changes within
// gateTTL.
type pullGate struct {
	s     *Server
	gen   atomic.Int64
	mu    sync.Mutex
	cache map[string]gateDecision
	// parsed keeps decoded findings per digest and scan time: a policy
	// change re-decides every digest, and decoding is most of the cost.
	parsed map[string]parsedScan
	now    func() time.Time
	eval   *verdict.Evaluator

	images     sync.Map // digest -> IsImage
	imageCount atomic.Int64
}

type parsedScan struct {
	at       time.Time
	findings []match.Finding
	coverage []match.Coverage
	checks   []verdict.CheckResult
}

// parse decodes a scan's findings and coverage, once per scan.
func (g *pullGate) parse(sc *store.Scan) (parsedScan, error) {
	g.mu.Lock()
	p, ok := g.parsed[sc.Digest]
	g.mu.Unlock()
	if ok && p.at.Equal(sc.ScannedAt) {
		return p, nil
	}
	p = parsedScan{at: sc.ScannedAt}
	if err := json.Unmarshal([]byte(sc.Findings), &p.findings); err != nil {
		return p, err
	}
	if sc.Coverage != "" {
		if err := json.Unmarshal([]byte(sc.Coverage), &p.coverage); err != nil {
			return p, err
		}
	}
	if sc.Checks != "" {
		var stored []scanner.StoredCheck
		if err := json.Unmarshal([]byte(sc.Checks), &stored); err != nil {
			return p, err
		}
		p.checks = make([]verdict.CheckResult, 0, len(stored))
		for _, c := range stored {
			p.checks = append(p.checks, verdict.CheckResult{ID: c.ID, Status: c.Status, Severity: c.Severity, Message: c.Message})
		}
	}
	g.mu.Lock()
	if g.parsed == nil || len(g.parsed) > 4096 {
		g.parsed = map[string]parsedScan{}
	}
	g.parsed[sc.Digest] = p
	g.mu.Unlock()
	return p, nil
}

type gateDecision struct {
	err error
	gen int64
	at  time.Time
}

const gateTTL = 10 * time.Second

// errUndecided marks a decision that could not be made now (the store or
// a registry did not answer): it refuses one request and is never cached.
var errUndecided = errors.New("the pull cannot be decided now")

// invalidate drops every cached decision (a scan finished, a policy
// changed).
func (g *pullGate) invalidate() { g.gen.Add(1) }

func (g *pullGate) check(ctx context.Context, m *store.Manifest, head bool) error {
	err := g.decision(ctx, m)
	// HEAD tells only the digest, but a docker that pulled the image
	// before needs nothing more: it takes the manifest from its cache
	// and fetches the layers. So HEAD is gated too, except for callers
	// who may push there: signing a refused image (to make it pullable)
	// starts by resolving its tag.
	if err != nil && head && g.s.callerMay(ctx, m.Repo, identity.Push) {
		return nil
	}
	if err != nil {
		g.s.record(ctx, actorOf(ctx), audit.ActionPolicyDeny, m.Repo+"@"+m.Digest, audit.Denied, map[string]any{"reason": err.Error()})
	}
	return err
}

// isImage memoizes registry.IsImage per digest: a digest names its
// content, so the answer never changes, and blob reads ask it for every
// manifest using the blob.
func (g *pullGate) isImage(m *store.Manifest) bool {
	if v, ok := g.images.Load(m.Digest); ok {
		return v.(bool)
	}
	img := registry.IsImage(m)
	if g.imageCount.Add(1) > 100000 {
		g.images.Clear()
		g.imageCount.Store(0)
	}
	g.images.Store(m.Digest, img)
	return img
}

// decision is the gate's verdict on a manifest, cached per project and
// digest. Only images are gated: indexes resolve to images that are, and
// signatures, attestations and SBOMs must stay readable to verify the
// images.
func (g *pullGate) decision(ctx context.Context, m *store.Manifest) error {
	key := identity.Project(m.Repo) + "\x00" + m.Digest
	gen := g.gen.Load()
	now := g.now()
	g.mu.Lock()
	d, ok := g.cache[key]
	g.mu.Unlock()
	if ok && d.gen == gen && now.Sub(d.at) < gateTTL {
		return d.err
	}
	var err error
	if g.isImage(m) {
		var evalErr error
		if err, evalErr = g.decide(ctx, m, now); evalErr != nil {
			// Refuse this request only: a transient failure must not be
			// remembered as a verdict for every caller.
			return fmt.Errorf("%w (%w): try again", errUndecided, evalErr)
		}
	}
	g.mu.Lock()
	if g.cache == nil || len(g.cache) > 100000 {
		g.cache = map[string]gateDecision{}
	}
	g.cache[key] = gateDecision{err: err, gen: gen, at: now}
	g.mu.Unlock()
	return err
}

// decide gathers what the store knows about the image and asks the one
// verdict (internal/verdict). It returns the refusal, or an error when
// the decision could not be made (the store or the registry did not
// answer): that refuses this request only and is never cached.
func (g *pullGate) decide(ctx context.Context, m *store.Manifest, now time.Time) (refusal error, err error) {
	project := identity.Project(m.Repo)
	raw, err := g.s.rawProjectPolicy(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("the pull policy of project %s cannot be read: %w", project, err)
	}
	pol, err := policy.ParsePullPolicy([]byte(raw))
	if err != nil {
		// A policy that does not parse is a standing refusal, not a
		// transient failure: cache it like any decision.
		return fmt.Errorf("the pull policy of project %s cannot be used (%v): an administrator must fix it", project, err), nil
	}
	ref := m.Repo + "@" + m.Digest
	sub := verdict.Subject{Name: ref, Digest: m.Digest, Scope: "project " + project, ScanURL: "/api/v1/scans/" + m.Digest}
	if sub.Ref, err = name.NewDigest("bulwark.internal/"+ref, name.Insecure); err != nil {
		return nil, err
	}
	if ps, ok, err := g.current(ctx, m.Digest); err != nil {
		return nil, fmt.Errorf("the scan result of %s cannot be read: %w", ref, err)
	} else if ok {
		sub.Scanned, sub.Findings, sub.Coverage, sub.Checks = true, ps.findings, ps.coverage, ps.checks
		return g.evaluate(ctx, sub, pol)
	}
	sc, err := g.s.store.GetScan(ctx, m.Digest)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if sub.ScanState, sub.ScanError, err = g.s.store.JobState(ctx, scanner.JobKind, m.Digest); err != nil {
			return nil, fmt.Errorf("the scan state of %s cannot be read: %w", ref, err)
		}
	case err != nil:
		return nil, fmt.Errorf("the scan result of %s cannot be read: %w", ref, err)
	default:
		ps, err := g.parse(sc)
		if err != nil {
			return fmt.Errorf("the scan result of %s is unreadable (%v): rescan it", ref, err), nil
		}
		sub.Scanned, sub.Findings, sub.Coverage, sub.Checks = true, ps.findings, ps.coverage, ps.checks
	}
	return g.evaluate(ctx, sub, pol)
}

func (g *pullGate) evaluate(ctx context.Context, sub verdict.Subject, pol *policy.Rule) (refusal, err error) {
	d, err := g.eval.Evaluate(ctx, sub, pol)
	if err != nil {
		return nil, err
	}
	return d.Err(), nil
}

// current returns the decoded scan of digest when the one held is still
// the stored one (same finish time), so a decision after a policy change
// does not read and decode 200 findings again.
func (g *pullGate) current(ctx context.Context, digest string) (parsedScan, bool, error) {
	g.mu.Lock()
	p, ok := g.parsed[digest]
	g.mu.Unlock()
	if !ok {
		return p, false, nil
	}
	at, err := g.s.store.ScanTime(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return p, false, nil
	}
	if err != nil {
		return p, false, err
	}
	return p, p.at.Equal(at), nil
}

func actorOf(ctx context.Context) string {
	p, c := caller(ctx)
	switch {
	case p != nil:
		return p.Name
	case c != nil:
		return c.Subject
	}
	return "anonymous"
}

// checkBlob gates a blob read. The invariant: no byte of a refused image
// reaches a caller who may not pull it. A blob is served when an image
// of the repository that uses it may be served (a base layer shared with
// an approved image), or when no image uses it at all (an upload whose
// manifest is not pushed yet, a signature or SBOM payload). A blob that a
// refused image uses is refused unless an approved image uses it too:
// an artifact, an index or a relabelled manifest naming it approves
// nothing. Pushers may always HEAD (clients check which blobs exist
// before uploading).
func (g *pullGate) checkBlob(ctx context.Context, repo, digest string, head bool) error {
	ms, err := g.s.store.ManifestsUsing(ctx, repo, digest)
	if err != nil {
		return fmt.Errorf("the images using blob %s cannot be read (%v): try again", digest, err)
	}
	var refusal error
	for _, m := range ms {
		if !g.isImage(m) {
			continue
		}
		err := g.decision(ctx, m)
		if err == nil {
			return nil
		}
		if refusal == nil {
			refusal = fmt.Errorf("blob %s belongs to an image the gate refuses: %w", digest, err)
		}
	}
	if refusal != nil && head && g.s.callerMay(ctx, repo, identity.Push) {
		return nil
	}
	if refusal != nil {
		g.s.record(ctx, actorOf(ctx), audit.ActionPolicyDeny, repo+"@"+digest, audit.Denied, map[string]any{"reason": refusal.Error(), "kind": "blob"})
	}
	return refusal
}
