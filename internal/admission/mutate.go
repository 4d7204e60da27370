package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	admissionv1 "k8s.io/api/admission/v1"

	"bulwark.dev/bulwark/internal/k8s"
)

// patchOp is one RFC 6902 operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// mutate pins images to digests and, in opted-in namespaces, fills
// secure defaults. It never denies: what it cannot read or resolve is
// left as it is for the validating webhook to judge.
func (w *Webhook) mutate(ctx context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{Allowed: true}
	if !judged(req) || req.SubResource != "" {
		return resp
	}
	if x, _ := w.Config.exemptNamespace(w.now(), req.Namespace); x != nil {
		return resp
	}
	ko, err := w.object(req)
	if err != nil {
		return resp
	}
	ops, warnings := w.Patch(ctx, req.Namespace, ko)
	resp.Warnings = capWarnings(warnings)
	if len(ops) == 0 {
		return resp
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return resp
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = b, &pt
	return resp
}

// Patch is the JSON patch for one workload.
func (w *Webhook) Patch(ctx context.Context, ns string, ko *k8s.Object) ([]patchOp, []string) {
	var ops []patchOp
	var warnings []string
	base := "/" + strings.Join(ko.Pod.Path, "/")
	idx := map[string]int{}
	type located struct {
		c    k8s.Container
		path string
	}
	var cs []located
	for _, c := range ko.Pod.Containers {
		list := "containers"
		switch {
		case c.Init:
			list = "initContainers"
		case c.Ephemeral:
			list = "ephemeralContainers"
		}
		cs = append(cs, located{c, fmt.Sprintf("%s/%s/%d", base, list, idx[list])})
		idx[list]++
	}
	if w.Config.DigestsOn() {
		resolved := map[string]string{}
		for _, l := range cs {
			img := l.c.Image
			if img == "" {
				continue
			}
			pinned, ok := resolved[img]
			if !ok {
				pinned = w.pin(ctx, img, &warnings)
				resolved[img] = pinned
			}
			if pinned != "" && pinned != img {
				ops = append(ops, patchOp{Op: "replace", Path: l.path + "/image", Value: pinned})
			}
		}
	}
	if matchAny(w.Config.Mutate.Defaults, ns) {
		spec := ko.Pod.Spec
		if spec.AutomountServiceAccountToken == nil {
			ops = append(ops, patchOp{Op: "add", Path: base + "/automountServiceAccountToken", Value: false})
		}
		seccomp := map[string]string{"type": "RuntimeDefault"}
		switch {
		case spec.SecurityContext == nil:
			ops = append(ops, patchOp{Op: "add", Path: base + "/securityContext", Value: map[string]any{"seccompProfile": seccomp}})
		case spec.SecurityContext.SeccompProfile == nil:
			ops = append(ops, patchOp{Op: "add", Path: base + "/securityContext/seccompProfile", Value: seccomp})
		}
		for _, l := range cs {
			if l.c.Ephemeral {
				continue // the API server refuses changes to them here
			}
			sc := l.c.SecurityContext
			switch {
			case sc == nil:
				ops = append(ops, patchOp{Op: "add", Path: l.path + "/securityContext", Value: map[string]any{"allowPrivilegeEscalation": false}})
			case sc.AllowPrivilegeEscalation == nil && (sc.Privileged == nil || !*sc.Privileged):
				// A privileged container escalates anyway; the API
				// server refuses the combination, and the validating
				// webhook reports the privilege itself.
				ops = append(ops, patchOp{Op: "add", Path: l.path + "/securityContext/allowPrivilegeEscalation", Value: false})
			}
		}
	}
	return ops, warnings
}

// pin is img with the digest it resolves to (repo:tag@digest), or ""
// when it is already pinned or cannot be resolved (the validating
// webhook denies the latter).
func (w *Webhook) pin(ctx context.Context, img string, warnings *[]string) string {
	ref, err := name.ParseReference(img)
	if err != nil {
		return ""
	}
	if _, ok := ref.(name.Digest); ok {
		return ""
	}
	j, err := w.Images.Judge(ctx, img)
	if err != nil {
		*warnings = append(*warnings, fmt.Sprintf("bulwark could not pin %s to a digest: %v", img, err))
		return ""
	}
	if j.Digest == "" {
		return "" // refused without a digest: the validating webhook says why
	}
	return img + "@" + j.Digest
}
