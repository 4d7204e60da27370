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
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"bulwark.dev/bulwark/internal/identity"
	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/scan"
	"bulwark.dev/bulwark/internal/scanner"
	"bulwark.dev/bulwark/internal/sign"
	"bulwark.dev/bulwark/internal/store"
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

	images     sync.Map // digest -> IsImage
	imageCount atomic.Int64
}

type parsedScan struct {
	at       time.Time
	findings []match.Finding
	coverage []match.Coverage
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
		g.s.record(ctx, actorOf(ctx), "policy.deny", m.Repo+"@"+m.Digest, "denied", map[string]any{"reason": err.Error()})
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
		err = g.decide(ctx, m, now)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	g.mu.Lock()
	if g.cache == nil || len(g.cache) > 100000 {
		g.cache = map[string]gateDecision{}
	}
	g.cache[key] = gateDecision{err: err, gen: gen, at: now}
	g.mu.Unlock()
	return err
}

// decide evaluates the project's policy. Any failure to evaluate it
// refuses the pull: the gate fails closed.
func (g *pullGate) decide(ctx context.Context, m *store.Manifest, now time.Time) error {
	project := identity.Project(m.Repo)
	pol, err := g.s.projectPolicy(ctx, project)
	if err != nil {
		return fmt.Errorf("the pull policy of project %s cannot be used (%v): an administrator must fix it", project, err)
	}
	ref := m.Repo + "@" + m.Digest
	sc, err := g.s.store.GetScan(ctx, m.Digest)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if pol.Unscanned != "allow" {
			state, lastErr, _ := g.s.store.JobState(ctx, scanner.JobKind, m.Digest)
			why := "no scan is queued"
			switch state {
			case "queued", "running":
				why = "its scan is " + state
				if lastErr != "" {
					why += "; the last attempt failed: " + lastErr
				}
			case "failed":
				why = "its scan failed: " + lastErr
			}
			return fmt.Errorf("%s has not been scanned yet (%s) and project %s blocks unscanned images: retry once the scan finishes (GET /api/v1/scans/%s)", ref, why, project, m.Digest)
		}
	case err != nil:
		return fmt.Errorf("the scan result of %s cannot be read (%v): try again", ref, err)
	default:
		ps, err := g.parse(sc)
		if err != nil {
			return fmt.Errorf("the scan result of %s is unreadable (%v): rescan it", ref, err)
		}
		if pol.Unmatched == "block" {
			if uncovered, why := scan.Uncovered(ps.coverage); uncovered {
				return fmt.Errorf("%s could not be judged and project %s blocks such images: %s", ref, project, why)
			}
		}
		if blocking := pol.Vulnerabilities(ps.findings, m.Digest, now); len(blocking) > 0 {
			return fmt.Errorf("%s has %d vulnerabilities at or above %s that project %s does not accept: %s. Rebuild with the fixed versions, or add an exception to the project's pull policy",
				ref, len(blocking), pol.BlockSeverity, project, policy.DescribeBlocking(blocking, 3))
		}
	}
	if pol.RequireSignature {
		var keys []signature.Verifier
		for i, k := range pol.Keys {
			v, err := sign.LoadPublicKey([]byte(k))
			if err != nil {
				return fmt.Errorf("key %d of project %s's pull policy is unreadable (%v): an administrator must fix it", i, project, err)
			}
			keys = append(keys, v)
		}
		d, err := name.NewDigest("bulwark.internal/"+ref, name.Insecure)
		if err != nil {
			return err
		}
		if _, err := sign.Verify(ctx, d, keys, remote.WithTransport(g.s.reg.Transport())); err != nil {
			var ve *sign.VerifyError
			if errors.As(err, &ve) {
				return fmt.Errorf("%s is %s by a key project %s trusts (%s): sign it with 'bulwark sign' or cosign", ref, reasonPhrase(ve.Reason), project, ve.Detail)
			}
			return fmt.Errorf("the signatures of %s cannot be checked (%v): try again", ref, err)
		}
	}
	return nil
}

func reasonPhrase(r sign.Reason) string {
	if r == sign.NoSignature {
		return "not signed"
	}
	return "not validly signed (" + string(r) + ")"
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
		g.s.record(ctx, actorOf(ctx), "policy.deny", repo+"@"+digest, "denied", map[string]any{"reason": refusal.Error(), "kind": "blob"})
	}
	return refusal
}
