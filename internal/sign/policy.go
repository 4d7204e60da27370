package sign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/sync/singleflight"
	"sigs.k8s.io/yaml"
)

// Policy says which keys sign which repositories and which attestations
// they must carry. The first rule whose pattern matches a repository
// applies; a repository no rule matches is refused (fail closed).
type Policy struct {
	Rules []PolicyRule `json:"rules"`
}

// PolicyRule applies to repositories matching Pattern (a glob on
// "registry/path", e.g. "registry.example.com/shop/*").
type PolicyRule struct {
	Pattern string `json:"pattern"`
	// Keys are public key files; any of them may sign (rotation).
	Keys []string `json:"keys"`
	// Attestations lists required predicate types (shorthands or URIs).
	Attestations []string `json:"attestations,omitempty"`
	// MaxAttestationAge bounds how old a required attestation may be.
	MaxAttestationAge string `json:"maxAttestationAge,omitempty"`

	verifiers []signature.Verifier
	types     []string
	maxAge    time.Duration
}

// LoadPolicy reads and validates a policy file; key paths are relative
// to the file.
func LoadPolicy(file string) (*Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("verification policy: %w", err)
	}
	var p Policy
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return nil, fmt.Errorf("verification policy %s: %w", file, err)
	}
	if len(p.Rules) == 0 {
		return nil, fmt.Errorf("verification policy %s: no rules", file)
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		where := fmt.Sprintf("verification policy %s: rules[%d]", file, i)
		if _, err := path.Match(r.Pattern, ""); err != nil || r.Pattern == "" {
			return nil, fmt.Errorf("%s: pattern %q is not a glob", where, r.Pattern)
		}
		if len(r.Keys) == 0 {
			return nil, fmt.Errorf("%s (%s): no keys: a rule must name who signs", where, r.Pattern)
		}
		for _, k := range r.Keys {
			if !filepath.IsAbs(k) {
				k = filepath.Join(filepath.Dir(file), k)
			}
			v, err := LoadPublicKeyFile(k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			r.verifiers = append(r.verifiers, v)
		}
		for _, t := range r.Attestations {
			u, err := PredicateType(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			r.types = append(r.types, u)
		}
		if r.MaxAttestationAge != "" {
			d, err := time.ParseDuration(r.MaxAttestationAge)
			if err != nil {
				return nil, fmt.Errorf("%s: maxAttestationAge: %w", where, err)
			}
			r.maxAge = d
		}
	}
	return &p, nil
}

func (p *Policy) rule(repo string) *PolicyRule {
	for i := range p.Rules {
		if ok, _ := path.Match(p.Rules[i].Pattern, repo); ok {
			return &p.Rules[i]
		}
	}
	return nil
}

// Verifier applies a policy and caches verdicts per digest. It is safe
// for concurrent use and built for the registry and the admission
// webhook, which call it on every pull and admission: concurrent checks
// of one digest share a single registry round trip. Failures are cached
// for a shorter time than successes, so a signature added later is seen
// soon; errors that are not verdicts (the registry unreachable, the
// caller gone) are returned and not cached.
type Verifier struct {
	policy  *Policy
	opts    []remote.Option
	ttl     time.Duration
	failTTL time.Duration
	now     func() time.Time

	group singleflight.Group
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	err     error
	expires time.Time
}

// NewVerifier returns a verifier for policy.
func NewVerifier(policy *Policy, ttl time.Duration, opts ...remote.Option) *Verifier {
	return &Verifier{policy: policy, opts: opts, ttl: ttl, failTTL: ttl / 10, now: time.Now, cache: map[string]cached{}}
}

// Check verifies a digest reference against the policy: a signature by a
// key of the matching rule and every required attestation.
func (v *Verifier) Check(ctx context.Context, d name.Digest) error {
	key := d.String()
	v.mu.Lock()
	if c, ok := v.cache[key]; ok && v.now().Before(c.expires) {
		v.mu.Unlock()
		return c.err
	}
	v.mu.Unlock()
	_, err, _ := v.group.Do(key, func() (any, error) {
		err := v.check(ctx, d)
		var ve *VerifyError
		if err != nil && !errors.As(err, &ve) {
			return nil, err
		}
		ttl := v.ttl
		if err != nil {
			ttl = v.failTTL
		}
		v.mu.Lock()
		v.cache[key] = cached{err: err, expires: v.now().Add(ttl)}
		v.mu.Unlock()
		return nil, err
	})
	return err
}

// Trusted returns the keys the policy trusts for ref's repository and the
// rule's maximum attestation age; a repository no rule covers is refused.
func (p *Policy) Trusted(ref name.Reference) ([]signature.Verifier, time.Duration, error) {
	r, err := p.ruleFor(ref)
	if err != nil {
		return nil, 0, err
	}
	return r.verifiers, r.maxAge, nil
}

func (p *Policy) ruleFor(ref name.Reference) (*PolicyRule, error) {
	repo := ref.Context().Name()
	if r := p.rule(repo); r != nil {
		return r, nil
	}
	return nil, &VerifyError{Reason: UntrustedKey, Ref: ref.String(), Detail: "no policy rule covers " + repo + " (fail closed)"}
}

func (v *Verifier) check(ctx context.Context, d name.Digest) error {
	r, err := v.policy.ruleFor(d)
	if err != nil {
		return err
	}
	if _, err := Verify(ctx, d, r.verifiers, v.opts...); err != nil {
		return err
	}
	for _, t := range r.types {
		if _, err := VerifyAttestation(ctx, d, r.verifiers, t, r.maxAge, v.now(), v.opts...); err != nil {
			return err
		}
	}
	return nil
}
