package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/verdict"
)

// admissionImages judges a pod's images by the pull gate: the webhook
// admits exactly what the registry would serve, through the same cached
// decision. Images of other registries are refused: this webhook can
// vouch only for what it serves (`bulwark admission serve` judges images
// kept elsewhere).
type admissionImages struct {
	s *Server
	// wait is the policy's waitForScan.
	wait bool
}

// scanPending says whether err refuses an image only because its scan
// has not finished.
func scanPending(err error) bool {
	var r *verdict.Refusal
	if !errors.As(err, &r) || len(r.Decision.Reasons) == 0 {
		return false
	}
	for _, x := range r.Decision.Reasons {
		if x.Kind != verdict.KindUnscanned {
			return false
		}
	}
	return true
}

func (a admissionImages) Judge(ctx context.Context, img string) (admission.Judgement, error) {
	ref, err := name.ParseReference(img)
	if err != nil {
		return rejected("unreadable", fmt.Sprintf("image %q is not a valid reference: %v", img, err)), nil
	}
	host := ref.Context().RegistryStr()
	if !a.s.servesHost(host) {
		return rejected("foreign-registry", fmt.Sprintf("image %s is not served by this bulwark registry (%s), so its verdict is unknown: push it to %s, or exempt it in the admission policy",
			img, strings.Join(a.s.cfg.RegistryHosts, ", "), firstOr(a.s.cfg.RegistryHosts, "this registry"))), nil
	}
	repo := ref.Context().RepositoryStr()
	digest := ref.Identifier()
	if _, ok := ref.(name.Tag); ok {
		if digest, err = a.s.store.ResolveTag(ctx, repo, ref.Identifier()); errors.Is(err, store.ErrNotFound) {
			return rejected("not-found", fmt.Sprintf("image %s does not exist in this registry: push it, or fix the tag", img)), nil
		} else if err != nil {
			return admission.Judgement{}, fmt.Errorf("resolving %s: %w", img, err)
		}
	}
	m, err := a.s.store.GetManifest(ctx, repo, digest)
	if errors.Is(err, store.ErrNotFound) {
		return rejected("not-found", fmt.Sprintf("image %s does not exist in this registry: push it, or fix the digest", img)), nil
	} else if err != nil {
		return admission.Judgement{}, fmt.Errorf("reading %s: %w", img, err)
	}
	j := admission.Judgement{Digest: m.Digest, Decision: verdict.Decision{Allowed: true}}
	images := []*store.Manifest{m}
	if !a.s.gate.isImage(m) {
		// An index runs one of its images, whichever the node's
		// platform picks: every one must pass.
		images = nil
		refs, err := a.s.store.ManifestRefs(ctx, repo, m.Digest)
		if err != nil {
			return admission.Judgement{}, fmt.Errorf("reading %s: %w", img, err)
		}
		for _, child := range refs {
			cm, err := a.s.store.GetManifest(ctx, repo, child)
			if errors.Is(err, store.ErrNotFound) {
				continue // a blob reference, or a platform not pushed
			} else if err != nil {
				return admission.Judgement{}, fmt.Errorf("reading %s@%s: %w", repo, child, err)
			}
			if a.s.gate.isImage(cm) {
				images = append(images, cm)
			}
		}
		if len(images) == 0 {
			return rejected("unreadable", fmt.Sprintf("%s is neither an image nor an index of images this registry holds", img)), nil
		}
	}
	for _, im := range images {
		err := a.s.gate.decision(ctx, im)
		for a.wait && scanPending(err) && admission.Pause(ctx, 200*time.Millisecond) {
			// The scan's end invalidates the gate's cache (onScanned).
			err = a.s.gate.decision(ctx, im)
		}
		var r *verdict.Refusal
		switch {
		case err == nil:
		case errors.As(err, &r):
			j.Decision.Reasons = append(j.Decision.Reasons, r.Decision.Reasons...)
			j.Decision.Warnings = append(j.Decision.Warnings, r.Decision.Warnings...)
		case errors.Is(err, errUndecided):
			return admission.Judgement{}, err
		default:
			// A standing refusal that is not a verdict (a project policy
			// that does not parse).
			j.Decision.Reasons = append(j.Decision.Reasons, verdict.Reason{Kind: "policy", Message: err.Error()})
		}
	}
	j.Decision.Allowed = len(j.Decision.Reasons) == 0
	return j, nil
}

func rejected(kind, msg string) admission.Judgement {
	return admission.Judgement{Decision: verdict.Decision{Reasons: []verdict.Reason{{Kind: kind, Message: msg}}}}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}

// servesHost says whether images named with host are this registry's.
func (s *Server) servesHost(host string) bool {
	for _, h := range s.cfg.RegistryHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// routeAdmission serves the webhook. The API server calls it without
// credentials, as Kubernetes webhooks are called; it answers only with
// decisions (the reasons and the digest of an image), never image bytes.
func (s *Server) routeAdmission(mux *http.ServeMux) error {
	cfg := s.cfg.Admission
	if cfg == nil {
		var err error
		if cfg, err = admission.ParseConfig(nil); err != nil {
			return err
		}
	}
	cs, err := admission.CheckList()
	if err != nil {
		return err
	}
	wh := &admission.Webhook{Config: cfg, Checks: cs, Images: admissionImages{s: s, wait: cfg.WaitForScan}, Audit: s.audit, Log: s.cfg.Logger}
	mux.Handle("POST /admission/validate", wh.Handler(false))
	mux.Handle("POST /admission/mutate", wh.Handler(true))
	return nil
}
