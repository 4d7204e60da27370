package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/k8s"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/verdict"
)

// Images judges the images a pod runs: it resolves a reference to the
// digest it names now and returns the one verdict on that digest. A
// reference that names nothing (no such tag) is a refusal, not an error;
// the error means only that the verdict could not be reached (the
// registry or the store did not answer), and the webhook fails closed.
type Images interface {
	Judge(ctx context.Context, image string) (Judgement, error)
}

// Judgement is the verdict on one image reference.
type Judgement struct {
	// Digest is what the reference resolved to ("" when it did not).
	Digest   string
	Decision verdict.Decision
}

// Recorder keeps decisions in the audit trail (*audit.Log).
type Recorder interface {
	Record(ctx context.Context, e audit.Entry) error
}

// Webhook decides admission requests. It is safe for concurrent use.
type Webhook struct {
	Config *Config
	// Checks are the hardening checks (CheckList gives the built-in
	// ones that judge a single workload).
	Checks []*checks.Check
	Env    *checks.Env
	Images Images
	// Audit records every decision that is not a dry run; nil logs them.
	Audit Recorder
	Log   *slog.Logger
	// Now is the clock for exemptions (time.Now when nil).
	Now func() time.Time
}

// CheckList is the built-in checks the webhook runs: those that judge
// one Kubernetes object. Checks across objects (a namespace's
// NetworkPolicies) need the whole namespace and belong to `bulwark check`
// and the cluster audit.
func CheckList() ([]*checks.Check, error) { return checks.ForTarget(checks.TargetKubernetes) }

func (w *Webhook) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Webhook) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Reason is one thing that refuses a workload.
type Reason struct {
	// Kind is a verdict.Reason kind (hardening-check, vulnerability,
	// signature, ...), "unreadable" or "unevaluated".
	Kind string `json:"kind"`
	// Image is the image concerned, for image verdicts.
	Image string `json:"image,omitempty"`
	// IDs are the checks or advisories concerned.
	IDs      []string `json:"ids,omitempty"`
	Severity string   `json:"severity,omitempty"`
	Message  string   `json:"message"`
}

// Verdict is the webhook's judgement of one workload.
type Verdict struct {
	Reasons  []Reason          `json:"reasons,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
	Digests  map[string]string `json:"digests,omitempty"` // image -> digest
	// Exempt is the namespace exemption that lifted the policy.
	Exempt string `json:"exempt,omitempty"`
}

// Allowed says whether nothing refuses the workload.
func (v *Verdict) Allowed() bool { return len(v.Reasons) == 0 }

// JudgeObject judges one decoded workload (its namespace is ns) by the
// hardening checks and the image verdict. It is what the webhook and
// the cluster audit share.
func (w *Webhook) JudgeObject(ctx context.Context, ns string, ko *k8s.Object) *Verdict {
	v := &Verdict{Digests: map[string]string{}}
	now := w.now()
	if x, expired := w.Config.exemptNamespace(now, ns); x != nil {
		v.Exempt = x.String()
		return v
	} else {
		v.expiredWarnings(expired)
	}
	if ko.Pod == nil {
		return v
	}
	var repos []string
	seen := map[string]bool{}
	var images []string
	for _, c := range ko.Pod.Containers {
		if c.Image == "" || seen[c.Image] {
			continue
		}
		seen[c.Image] = true
		images = append(images, c.Image)
		if r, err := name.ParseReference(c.Image); err == nil {
			repos = append(repos, r.Context().Name())
		}
	}
	if !w.Config.noChecks {
		w.judgeChecks(ctx, ns, ko, repos, v)
	}
	for _, img := range images {
		w.judgeImage(ctx, ns, img, v)
	}
	return v
}

func (v *Verdict) expiredWarnings(xs []*Exemption) {
	for _, x := range xs {
		v.Warnings = append(v.Warnings, "an "+x.String()+" has expired and no longer applies")
	}
}

func (w *Webhook) judgeChecks(ctx context.Context, ns string, ko *k8s.Object, repos []string, v *Verdict) {
	obj := checks.FromK8s(ko)
	results, err := checks.Run(ctx, w.Checks, []*checks.Object{obj}, w.Env, nil)
	if err != nil {
		v.Reasons = append(v.Reasons, Reason{Kind: "unevaluated", Message: fmt.Sprintf("the hardening checks did not finish (%v): denied, since what was not checked may not run", err)})
		return
	}
	remediation := map[string]string{}
	for _, c := range w.Checks {
		remediation[c.ID] = c.Remediation
	}
	type group struct {
		sev  severity.Level
		msgs []string
	}
	failed := map[string]*group{}
	var order []string
	for _, r := range results {
		if r.Status != "fail" || r.Severity < w.Config.checkLevel {
			continue
		}
		if x, expired := w.Config.exemptCheck(w.now(), ns, repos, r.CheckID); x != nil {
			continue
		} else {
			v.expiredWarnings(expired)
		}
		g := failed[r.CheckID]
		if g == nil {
			g = &group{sev: r.Severity}
			failed[r.CheckID] = g
			order = append(order, r.CheckID)
		}
		g.msgs = append(g.msgs, r.Message)
	}
	// Worst first, so a truncated message keeps what matters most.
	sort.SliceStable(order, func(i, j int) bool { return failed[order[i]].sev > failed[order[j]].sev })
	for _, id := range order {
		g := failed[id]
		msg := fmt.Sprintf("%s (%s): %s", id, g.sev, strings.Join(g.msgs, "; "))
		if fix := remediation[id]; fix != "" {
			msg += ". Fix: " + fix
		}
		v.Reasons = append(v.Reasons, Reason{Kind: verdict.KindCheck, IDs: []string{id}, Severity: g.sev.String(), Message: msg})
	}
}

func (w *Webhook) judgeImage(ctx context.Context, ns, img string, v *Verdict) {
	ref, err := name.ParseReference(img)
	if err != nil {
		v.Reasons = append(v.Reasons, Reason{Kind: "unreadable", Image: img, Message: fmt.Sprintf("image %q is not a valid reference: %v", img, err)})
		return
	}
	if x, expired := w.Config.exemptImage(w.now(), ns, ref.Context().Name()); x != nil {
		v.Warnings = append(v.Warnings, fmt.Sprintf("image %s was not judged: %s", img, x))
		return
	} else {
		v.expiredWarnings(expired)
	}
	j, err := w.Images.Judge(ctx, img)
	if err != nil {
		msg := fmt.Sprintf("image %s could not be judged (%v): denied until it can be (fail closed); try again", img, err)
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("image %s could not be judged before the webhook's deadline: denied (fail closed); try again once its scan has finished", img)
		}
		v.Reasons = append(v.Reasons, Reason{Kind: "unevaluated", Image: img, Message: msg})
		return
	}
	if j.Digest != "" {
		v.Digests[img] = j.Digest
	}
	for _, r := range j.Decision.Reasons {
		v.Reasons = append(v.Reasons, Reason{Kind: r.Kind, Image: img, IDs: r.IDs, Severity: r.Severity, Message: r.Message})
	}
	for _, m := range j.Decision.Warnings {
		v.Warnings = append(v.Warnings, img+": "+m)
	}
}
