package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/severity"
)

// Rule is bulwark's one policy model: what an image must satisfy to be
// pulled from the registry, admitted to a cluster, promoted by a rollout
// gate or passed in CI (internal/verdict decides it). A project's pull
// policy is one Rule; a policy file is a Document of rules by repository
// glob. Fields a rule leaves unset take the defaults of where it was read
// (ParsePullPolicy, LoadDocument).
type Rule struct {
	// Pattern is a glob on the repository (registry/path in files,
	// project/path on the server); unset for a project's own policy.
	Pattern string `json:"pattern,omitempty"`

	// BlockSeverity blocks an image with a vulnerability at or above it
	// (critical, high, medium, low) that no exception covers; "none"
	// never blocks on vulnerabilities.
	BlockSeverity string `json:"blockSeverity"`
	// IgnoreUnfixed does not block on vulnerabilities without a fix.
	IgnoreUnfixed bool `json:"ignoreUnfixed,omitempty"`
	// Unscanned is "block" (the default) or "allow": what to do with an
	// image whose scan has not finished (or failed).
	Unscanned string `json:"unscanned"`
	// Unmatched is "block", "warn" (the default: served, the scan carries
	// the warning) or "allow": what to do with an image whose OS packages
	// the scan could not judge (no advisories for its release in the
	// database, or packages bulwark does not match, such as rpm).
	Unmatched string `json:"unmatched,omitempty"`
	// UnknownSeverity is the level a finding of unknown severity counts
	// as ("critical", "high" (the default), "medium", "low"), or "ignore".
	UnknownSeverity string `json:"unknownSeverity,omitempty"`
	// RequireSignature blocks images not signed by one of Keys (PEM
	// public keys, cosign format; in a policy file, key file paths).
	RequireSignature bool     `json:"requireSignature,omitempty"`
	Keys             []string `json:"keys,omitempty"`
	// Attestations lists predicate types (cosign's shorthands or URIs)
	// that one of Keys must have attested about the image, at most
	// MaxAttestationAge old (a duration) when set.
	Attestations      []string `json:"attestations,omitempty"`
	MaxAttestationAge string   `json:"maxAttestationAge,omitempty"`
	// RequiredChecks are hardening check IDs (BW-IMG-001, ...) the image
	// must pass.
	RequiredChecks []string `json:"requiredChecks,omitempty"`
	// Exceptions are accepted vulnerabilities, as in an ignore file.
	Exceptions []IgnoreEntry `json:"exceptions,omitempty"`
	// VEX are OpenVEX documents (as JSON): not_affected and fixed
	// statements about an image's products suppress those findings.
	VEX []json.RawMessage `json:"vex,omitempty"`
	// ImmutableTags are tag patterns (path.Match globs, such as "v*")
	// that, once pushed, never move to another digest and are never
	// deleted (registry projects).
	ImmutableTags []string `json:"immutableTags,omitempty"`
	// Retention removes old tags (never immutable ones; registry
	// projects).
	Retention *Retention `json:"retention,omitempty"`

	maxAge time.Duration
}

// PullPolicy is the name a project's Rule has in the API and --config.
type PullPolicy = Rule

// MaxAge is the parsed MaxAttestationAge (0: any age).
func (p *Rule) MaxAge() time.Duration { return p.maxAge }

// Retention keeps, in each repository, the KeepLast most recently pushed
// tags and every tag pulled within PulledWithinDays; the rest are removed,
// with their manifests when nothing else refers to them.
type Retention struct {
	KeepLast         int `json:"keepLast"`
	PulledWithinDays int `json:"pulledWithinDays,omitempty"`
}

// Immutable says whether a tag matches one of the immutable patterns.
func (p *Rule) Immutable(tag string) bool {
	for _, pat := range p.ImmutableTags {
		if ok, _ := path.Match(pat, tag); ok {
			return true
		}
	}
	return false
}

// DefaultPullPolicy applies to a project without a policy: critical
// vulnerabilities and unscanned images are refused.
var DefaultPullPolicy = Rule{BlockSeverity: "critical", Unscanned: "block", Unmatched: "warn", UnknownSeverity: "high"}

// ParsePullPolicy decodes a project's policy strictly (unknown keys are
// errors) and fills the registry's defaults (block critical and
// unscanned images).
func ParsePullPolicy(b []byte) (*Rule, error) {
	p := DefaultPullPolicy
	if len(bytes.TrimSpace(b)) == 0 {
		return &p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("pull policy: %w", err)
	}
	if p.BlockSeverity == "" {
		p.BlockSeverity = DefaultPullPolicy.BlockSeverity
	}
	if p.Unscanned == "" {
		p.Unscanned = DefaultPullPolicy.Unscanned
	}
	if p.RequireSignature && len(p.Keys) == 0 {
		return nil, fmt.Errorf("pull policy: requireSignature needs at least one key")
	}
	if err := p.prepare("pull policy"); err != nil {
		return nil, err
	}
	return &p, nil
}

// prepare validates a rule and fills the defaults every source shares.
func (p *Rule) prepare(where string) error {
	if p.BlockSeverity != "none" {
		if _, err := severity.Parse(p.BlockSeverity); err != nil {
			return fmt.Errorf("%s: blockSeverity: %w", where, err)
		}
	}
	switch p.Unscanned {
	case "block", "allow":
	default:
		return fmt.Errorf("%s: unscanned %q: want block or allow", where, p.Unscanned)
	}
	switch p.Unmatched {
	case "":
		p.Unmatched = DefaultPullPolicy.Unmatched
	case "block", "warn", "allow":
	default:
		return fmt.Errorf("%s: unmatched %q: want block, warn or allow", where, p.Unmatched)
	}
	if _, _, err := ParseUnknownSeverity(p.UnknownSeverity); err != nil {
		return fmt.Errorf("%s: unknownSeverity: %w", where, err)
	}
	if p.UnknownSeverity == "" {
		p.UnknownSeverity = DefaultPullPolicy.UnknownSeverity
	}
	if p.MaxAttestationAge != "" {
		d, err := time.ParseDuration(p.MaxAttestationAge)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s: maxAttestationAge %q: want a duration such as 168h", where, p.MaxAttestationAge)
		}
		p.maxAge = d
	}
	if len(p.Attestations) > 0 && len(p.Keys) == 0 {
		return fmt.Errorf("%s: attestations need keys: a rule must name who attests", where)
	}
	for _, id := range p.RequiredChecks {
		if !strings.HasPrefix(id, "BW-") {
			return fmt.Errorf("%s: requiredChecks: %q is not a check ID (BW-IMG-001, ...)", where, id)
		}
	}
	for _, pat := range p.ImmutableTags {
		if _, err := path.Match(pat, "x"); err != nil || pat == "" {
			return fmt.Errorf("%s: immutableTags: bad pattern %q", where, pat)
		}
	}
	for i, v := range p.VEX {
		if _, err := ParseVEX(v); err != nil {
			return fmt.Errorf("%s: vex %d: %w", where, i, err)
		}
	}
	if r := p.Retention; r != nil && (r.KeepLast < 1 || r.PulledWithinDays < 0) {
		return fmt.Errorf("%s: retention: keepLast must be at least 1 and pulledWithinDays not negative", where)
	}
	return prepareEntries(p.Exceptions, where+": exceptions")
}

// Vulnerabilities applies the policy to a scan's findings. It returns the
// results that block (none: the image may be served).
func (p *Rule) Vulnerabilities(findings []match.Finding, subject string, now time.Time) []Result {
	if p.BlockSeverity == "none" {
		return nil
	}
	min, _ := severity.Parse(p.BlockSeverity)
	g := &Gate{Severities: severity.AtOrAbove(min), IgnoreUnfixed: p.IgnoreUnfixed, Subject: subject, Now: now,
		Ignore: &IgnoreFile{Path: "project policy", Entries: p.Exceptions, Now: func() time.Time { return now }}}
	g.UnknownAs, g.IgnoreUnknown, _ = ParseUnknownSeverity(p.UnknownSeverity) // checked when parsed
	for _, raw := range p.VEX {
		if v, err := ParseVEX(raw); err == nil { // checked when the policy was parsed
			g.VEX = append(g.VEX, v)
		}
	}
	var out []Result
	for _, r := range g.Apply(findings).Results {
		if r.Suppressed == nil {
			out = append(out, r)
		}
	}
	return out
}

// DescribeBlocking says which results block, most severe first, briefly;
// a severity the gate assumed is named as such.
func DescribeBlocking(rs []Result, max int) string {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Level() > rs[j].Level() })
	var parts []string
	for i, r := range rs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-max))
			break
		}
		fix := "no fix yet"
		if len(r.Fixed) > 0 {
			fix = "fixed in " + strings.Join(r.Fixed, ", ")
		}
		sev := r.Severity.String()
		if r.CountedAs != nil {
			sev = fmt.Sprintf("severity unknown, counted as %s", *r.CountedAs)
		}
		parts = append(parts, fmt.Sprintf("%s (%s) in %s %s, %s", r.ID, sev, r.Package.Name, r.Package.Version, fix))
	}
	return strings.Join(parts, "; ")
}
