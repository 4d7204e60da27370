package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/verdict"
)

// Scans gives what a scanner knows about an image digest, for images
// kept in registries other than bulwark's own.
type Scans interface {
	// Scan fills the subject's scan fields (Scanned, Findings, Coverage,
	// Checks, or ScanState and ScanError). Not knowing the digest is not
	// an error: Scanned stays false.
	Scan(ctx context.Context, digest string, s *verdict.Subject) error
}

// RegistryImages judges images by a policy file's rules: tags are
// resolved in the image's registry, scan results come from Scans (a
// bulwark server's API) and signatures from the registry, and the one
// verdict decides. Judgements are kept for TTL; errors never are.
type RegistryImages struct {
	Doc    *policy.Document
	Eval   *verdict.Evaluator
	Remote []remote.Option
	// Scans may be nil: every image is then unscanned, which the rule's
	// unscanned setting decides.
	Scans Scans
	// WaitForScan polls Scans, up to the request's deadline, while an
	// image's scan is queued or running.
	WaitForScan bool
	TTL         time.Duration
	Now         func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	j  Judgement
	at time.Time
}

func (ri *RegistryImages) now() time.Time {
	if ri.Now != nil {
		return ri.Now()
	}
	return time.Now()
}

// Judge implements Images.
func (ri *RegistryImages) Judge(ctx context.Context, img string) (Judgement, error) {
	now := ri.now()
	ri.mu.Lock()
	c, ok := ri.cache[img]
	ri.mu.Unlock()
	if ok && now.Sub(c.at) < ri.TTL {
		return c.j, nil
	}
	j, err := ri.judge(ctx, img)
	if err != nil {
		return j, err
	}
	for _, r := range j.Decision.Reasons {
		if r.Kind == verdict.KindUnscanned {
			return j, nil // the scan may finish any moment
		}
	}
	ri.mu.Lock()
	if ri.cache == nil || len(ri.cache) > 10000 {
		ri.cache = map[string]cached{}
	}
	ri.cache[img] = cached{j, now}
	ri.mu.Unlock()
	return j, nil
}

func refusal(kind, msg string) Judgement {
	return Judgement{Decision: verdict.Decision{Reasons: []verdict.Reason{{Kind: kind, Message: msg}}}}
}

func (ri *RegistryImages) judge(ctx context.Context, img string) (Judgement, error) {
	ref, err := name.ParseReference(img)
	if err != nil {
		return refusal("unreadable", fmt.Sprintf("image %q is not a valid reference: %v", img, err)), nil
	}
	opts := append(append([]remote.Option(nil), ri.Remote...), remote.WithContext(ctx))
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		if notFound(err) {
			return refusal("not-found", fmt.Sprintf("image %s does not exist in its registry: push it, or fix the reference", img)), nil
		}
		return Judgement{}, fmt.Errorf("resolving %s: %w", img, err)
	}
	repo := ref.Context().Name()
	rule, _ := ri.Doc.For(repo)
	index := ref.Context().Digest(desc.Digest.String())
	j := Judgement{Digest: desc.Digest.String()}
	children := []v1.Hash{desc.Digest}
	if desc.MediaType.IsIndex() {
		if children, err = imagesOf(ctx, index, opts); err != nil {
			return Judgement{}, err
		}
		if len(children) == 0 {
			return refusal("unreadable", fmt.Sprintf("image index %s lists no images", img)), nil
		}
	}
	for _, d := range children {
		s := verdict.Subject{Name: repo + "@" + d.String(), Digest: d.String(), Ref: index, Scope: "policy " + ri.Doc.Path}
		if ri.Doc.Path == "" {
			s.Scope = "the policy"
		}
		if ri.Scans != nil && rule != nil {
			if err := ri.Scans.Scan(ctx, d.String(), &s); err != nil {
				return Judgement{}, err
			}
			for ri.WaitForScan && !s.Scanned && (s.ScanState == "queued" || s.ScanState == "running") && Pause(ctx, 250*time.Millisecond) {
				s.ScanState, s.ScanError = "", ""
				if err := ri.Scans.Scan(ctx, d.String(), &s); err != nil {
					return Judgement{}, err
				}
			}
		}
		dec, err := ri.Eval.Evaluate(ctx, s, rule)
		if err != nil {
			return Judgement{}, err
		}
		j.Decision.Reasons = append(j.Decision.Reasons, dec.Reasons...)
		j.Decision.Warnings = append(j.Decision.Warnings, dec.Warnings...)
		if !dec.Allowed && rule == nil {
			break // one "no rule" reason is enough
		}
	}
	j.Decision.Allowed = len(j.Decision.Reasons) == 0
	return j, nil
}

// imagesOf lists an index's runnable images (not attestation manifests,
// whose platform is unknown/unknown).
func imagesOf(ctx context.Context, ref name.Digest, opts []remote.Option) ([]v1.Hash, error) {
	idx, err := remote.Index(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", ref, err)
	}
	var out []v1.Hash
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "unknown" {
			continue
		}
		if d.MediaType == types.OCIManifestSchema1 || d.MediaType == types.DockerManifestSchema2 {
			out = append(out, d.Digest)
		}
	}
	return out, nil
}

func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// APIScans reads scan results from a bulwark server's API
// (GET /api/v1/scans/{digest}) as a robot (Basic credentials: robot$NAME
// and its token), or anonymously (public projects only) without one.
type APIScans struct {
	URL         string
	User, Token string
	Client      *http.Client
}

// Scan implements Scans.
func (a *APIScans) Scan(ctx context.Context, digest string, s *verdict.Subject) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(a.URL, "/")+"/api/v1/scans/"+digest, nil)
	if err != nil {
		return err
	}
	if a.User != "" {
		req.SetBasicAuth(a.User, a.Token)
	}
	c := a.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("reading the scan of %s from %s: %w", digest, a.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the scan of %s from %s: %w", digest, a.URL, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var v struct {
			Findings []match.Finding  `json:"findings"`
			Coverage []match.Coverage `json:"coverage"`
			Checks   []struct {
				ID, Status, Severity, Message string
			} `json:"checks"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the scan of %s from %s is unreadable: %w", digest, a.URL, err)
		}
		s.Scanned, s.Findings, s.Coverage = true, v.Findings, v.Coverage
		s.Checks = []verdict.CheckResult{}
		for _, c := range v.Checks {
			s.Checks = append(s.Checks, verdict.CheckResult{ID: c.ID, Status: c.Status, Severity: c.Severity, Message: c.Message})
		}
		return nil
	case http.StatusAccepted:
		var v struct{ State, Error string }
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("the scan state of %s from %s is unreadable: %w", digest, a.URL, err)
		}
		s.ScanState, s.ScanError = v.State, v.Error
		s.ScanURL = strings.TrimSuffix(a.URL, "/") + "/api/v1/scans/" + digest
		return nil
	case http.StatusNotFound:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s refused to give the scan of %s (HTTP %d): check --user and the robot's token", a.URL, digest, resp.StatusCode)
	}
	return fmt.Errorf("%s answered HTTP %d for the scan of %s", a.URL, resp.StatusCode, digest)
}

// Pause waits d unless ctx ends first or its deadline is too close to
// leave time to answer after waiting.
func Pause(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d+100*time.Millisecond {
		return false
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
