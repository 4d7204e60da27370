// Package verdict is the one image verdict: whether an image may be
// pulled from the registry, admitted to a cluster, promoted by a rollout
// gate or passed in CI is decided here, by Evaluate, over one policy
// model (policy.Rule). Callers keep only their transport and caching.
//
// A Decision says allowed or refused, with structured reasons a developer
// can act on. An error means only "could not evaluate" (a store or a
// registry that did not answer, a cancelled caller): the caller refuses
// that one request and caches nothing.
package verdict

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/sign"
)

// Reason kinds.
const (
	KindVulnerability = "vulnerability"
	KindSignature     = "signature"
	KindAttestation   = "attestation"
	KindUnscanned     = "unscanned"
	KindUnmatched     = "unmatched-os"
	KindCheck         = "hardening-check"
	KindNoRule        = "no-rule"
)

// Reason is one thing that refuses an image.
type Reason struct {
	Kind string `json:"kind"`
	// IDs are the advisories or checks concerned.
	IDs []string `json:"ids,omitempty"`
	// Severity is the worst severity among them (vulnerabilities, checks).
	Severity string `json:"severity,omitempty"`
	// Fix says what would make the image pass.
	Fix string `json:"fix,omitempty"`
	// Message is the whole reason in a sentence, with the fix.
	Message string `json:"message"`
}

// Decision is the verdict on one image.
type Decision struct {
	Allowed bool     `json:"allowed"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Warnings are what the reader must know about an allowed image (its
	// OS could not be judged, under unmatched: warn).
	Warnings []string `json:"warnings,omitempty"`
}

// Refusal is a refused Decision as an error, for callers that pass
// errors on (a registry's DENIED message, a CLI's exit code).
type Refusal struct{ Decision Decision }

func (r *Refusal) Error() string {
	msgs := make([]string, 0, len(r.Decision.Reasons))
	for _, x := range r.Decision.Reasons {
		msgs = append(msgs, x.Message)
	}
	return strings.Join(msgs, "; and ")
}

// Err is nil for an allowed decision and a *Refusal otherwise.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &Refusal{Decision: d}
}

// CheckResult is a hardening check's verdict on the image.
type CheckResult struct {
	ID, Status, Severity, Message string
}

// Subject is the image to judge and what is known about it.
type Subject struct {
	// Name is how messages name the image (repo@digest).
	Name string
	// Digest is the manifest digest (VEX statements about it).
	Digest string
	// Ref is where signatures and attestations are read from; the zero
	// value means they cannot be checked here.
	Ref name.Digest
	// Scope names whose policy it is in messages ("project shop").
	Scope string

	// Scanned says whether Findings and Coverage hold a scan result;
	// ScanState and ScanError say why not (queued, running, failed).
	Scanned              bool
	Findings             []match.Finding
	Coverage             []match.Coverage
	ScanState, ScanError string
	// ScanURL is where the scan's progress can be read, for messages.
	ScanURL string

	// Checks are the image's hardening check results; nil when they were
	// not run.
	Checks []CheckResult
}

// Evaluator decides. It is safe for concurrent use.
type Evaluator struct {
	// Remote are the options signatures are read with.
	Remote []remote.Option
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]signature.Verifier
}

func (e *Evaluator) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Keys parses a rule's keys (cached by content), so a policy with a bad
// key is refused when it is loaded, not on the first pull.
func (e *Evaluator) Keys(r *policy.Rule) ([]signature.Verifier, error) {
	out := make([]signature.Verifier, 0, len(r.Keys))
	for i, k := range r.Keys {
		e.mu.Lock()
		v, ok := e.keys[k]
		e.mu.Unlock()
		if !ok {
			var err error
			if v, err = sign.LoadPublicKey([]byte(k)); err != nil {
				return nil, fmt.Errorf("key %d of the policy: %w", i+1, err)
			}
			e.mu.Lock()
			if e.keys == nil {
				e.keys = map[string]signature.Verifier{}
			}
			e.keys[k] = v
			e.mu.Unlock()
		}
		out = append(out, v)
	}
	return out, nil
}

// ErrCannotEvaluate wraps what kept a decision from being made.
var ErrCannotEvaluate = errors.New("the policy could not be evaluated")

// Evaluate judges subject by rule. A nil rule is a refusal: no rule
// covers the image (fail closed).
func (e *Evaluator) Evaluate(ctx context.Context, s Subject, r *policy.Rule) (Decision, error) {
	if r == nil {
		return refused(Reason{Kind: KindNoRule, Message: fmt.Sprintf("no policy rule covers %s (fail closed): add a rule whose pattern matches it", s.Name)}), nil
	}
	var reasons []Reason
	var warnings []string
	scope := s.Scope
	if scope == "" {
		scope = "the policy"
	}
	switch {
	case !s.Scanned && r.Unscanned != "allow":
		why := "no scan is queued"
		switch s.ScanState {
		case "queued", "running":
			why = "its scan is " + s.ScanState
			if s.ScanError != "" {
				why += "; the last attempt failed: " + s.ScanError
			}
		case "failed":
			why = "its scan failed: " + s.ScanError
		}
		fix := "retry once the scan finishes"
		if s.ScanURL != "" {
			fix += " (GET " + s.ScanURL + ")"
		}
		reasons = append(reasons, Reason{Kind: KindUnscanned, Fix: fix,
			Message: fmt.Sprintf("%s has not been scanned yet (%s) and %s blocks unscanned images: %s", s.Name, why, scope, fix)})
	case s.Scanned:
		if uncovered, why := uncoveredOS(s.Coverage); uncovered {
			switch r.Unmatched {
			case "block":
				reasons = append(reasons, Reason{Kind: KindUnmatched, Fix: "install advisories for its OS (bulwark db update) or set unmatched: warn",
					Message: fmt.Sprintf("%s could not be judged and %s blocks such images: %s", s.Name, scope, why)})
			case "warn":
				warnings = append(warnings, why)
			}
		}
		if blocking := r.Vulnerabilities(s.Findings, s.Digest, e.now()); len(blocking) > 0 {
			ids := make([]string, 0, len(blocking))
			worst := blocking[0].Level()
			for _, b := range blocking {
				ids = append(ids, b.ID)
				if b.Level() > worst {
					worst = b.Level()
				}
			}
			const fix = "Rebuild with the fixed versions, or add an exception to the policy"
			reasons = append(reasons, Reason{Kind: KindVulnerability, IDs: ids, Severity: worst.String(), Fix: fix,
				Message: fmt.Sprintf("%s has %d vulnerabilities at or above %s that %s does not accept: %s. %s",
					s.Name, len(blocking), r.BlockSeverity, scope, policy.DescribeBlocking(blocking, 3), fix)})
		}
	}
	if len(r.RequiredChecks) > 0 {
		reasons = append(reasons, e.checks(s, r, scope)...)
	}
	if r.RequireSignature || len(r.Attestations) > 0 {
		rs, err := e.signatures(ctx, s, r, scope)
		if err != nil {
			return Decision{}, err
		}
		reasons = append(reasons, rs...)
	}
	if len(reasons) > 0 {
		d := refused(reasons...)
		d.Warnings = warnings
		return d, nil
	}
	return Decision{Allowed: true, Warnings: warnings}, nil
}

func refused(rs ...Reason) Decision { return Decision{Allowed: false, Reasons: rs} }

// uncoveredOS says whether the image's OS packages could not be judged.
func uncoveredOS(cov []match.Coverage) (bool, string) {
	for _, c := range cov {
		if c.OS && c.Status != match.Covered {
			return true, c.Message
		}
	}
	return false, ""
}

func (e *Evaluator) checks(s Subject, r *policy.Rule, scope string) []Reason {
	if s.Checks == nil {
		return []Reason{{Kind: KindCheck, IDs: r.RequiredChecks, Fix: "scan the image again",
			Message: fmt.Sprintf("the hardening checks %s requires (%s) were not run on %s", scope, strings.Join(r.RequiredChecks, ", "), s.Name)}}
	}
	var failed []string
	var details []string
	for _, id := range r.RequiredChecks {
		found := false
		for _, c := range s.Checks {
			if c.ID != id {
				continue
			}
			found = true
			if c.Status == "fail" {
				failed = append(failed, id)
				details = append(details, id+": "+c.Message)
			}
		}
		if !found {
			failed = append(failed, id)
			details = append(details, id+": not a check that was run on images")
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return []Reason{{Kind: KindCheck, IDs: failed, Fix: "fix the image (see docs/checks.md) or drop the check from the policy",
		Message: fmt.Sprintf("%s fails hardening checks %s requires: %s", s.Name, scope, strings.Join(details, "; "))}}
}

// signatures checks the rule's signature and attestations. A
// verification failure is a reason; anything else (the registry did not
// answer) is an error.
func (e *Evaluator) signatures(ctx context.Context, s Subject, r *policy.Rule, scope string) ([]Reason, error) {
	keys, err := e.Keys(r)
	if err != nil {
		return []Reason{{Kind: KindSignature, Fix: "an administrator must fix the policy's keys",
			Message: fmt.Sprintf("the keys of %s are unreadable (%v): an administrator must fix them", scope, err)}}, nil
	}
	if s.Ref.String() == "" || s.Ref.DigestStr() == "" {
		return nil, fmt.Errorf("%w: %s has no registry reference to read signatures from", ErrCannotEvaluate, s.Name)
	}
	opts := append(append([]remote.Option(nil), e.Remote...), remote.WithContext(ctx))
	var reasons []Reason
	if r.RequireSignature {
		if _, err := sign.Verify(ctx, s.Ref, keys, opts...); err != nil {
			var ve *sign.VerifyError
			if !errors.As(err, &ve) {
				return nil, fmt.Errorf("%w: the signatures of %s cannot be checked: %w", ErrCannotEvaluate, s.Name, err)
			}
			phrase := "not signed"
			if ve.Reason != sign.NoSignature {
				phrase = "not validly signed (" + string(ve.Reason) + ")"
			}
			reasons = append(reasons, Reason{Kind: KindSignature, IDs: []string{string(ve.Reason)}, Fix: "sign it with 'bulwark sign' or cosign",
				Message: fmt.Sprintf("%s is %s by a key %s trusts (%s: %s): sign it with 'bulwark sign' or cosign", s.Name, phrase, scope, ve.Summary(), ve.Detail)})
		}
	}
	for _, t := range r.Attestations {
		pt, err := sign.PredicateType(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotEvaluate, err)
		}
		if _, err := sign.VerifyAttestation(ctx, s.Ref, keys, pt, r.MaxAge(), e.now(), opts...); err != nil {
			var ve *sign.VerifyError
			if !errors.As(err, &ve) {
				return nil, fmt.Errorf("%w: the attestations of %s cannot be checked: %w", ErrCannotEvaluate, s.Name, err)
			}
			reasons = append(reasons, Reason{Kind: KindAttestation, IDs: []string{pt}, Fix: "attest it with 'bulwark attest' or cosign attest",
				Message: fmt.Sprintf("%s lacks a %s attestation by a key %s trusts (%s: %s): attest it with 'bulwark attest' or cosign attest", s.Name, pt, scope, ve.Summary(), ve.Detail)})
		}
	}
	return reasons, nil
}

// Findings is the verdict on findings a CI gate already filtered
// (bulwark scan --exit-code): refused while any unsuppressed finding the
// gate counts remains.
func Findings(name string, v *policy.Verdict) Decision {
	var blocking []policy.Result
	for _, r := range v.Results {
		if r.Suppressed == nil {
			blocking = append(blocking, r)
		}
	}
	if len(blocking) == 0 {
		return Decision{Allowed: true}
	}
	ids := make([]string, 0, len(blocking))
	worst := blocking[0].Level()
	for _, b := range blocking {
		ids = append(ids, b.ID)
		worst = max(worst, b.Level())
	}
	const fix = "update the packages to the fixed versions, or except the findings (--ignorefile, --vex)"
	return refused(Reason{Kind: KindVulnerability, IDs: ids, Severity: worst.String(), Fix: fix,
		Message: fmt.Sprintf("%s has %d findings left after exceptions: %s; %s", name, len(blocking), policy.DescribeBlocking(blocking, 3), fix)})
}
