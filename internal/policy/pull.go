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

// PullPolicy is a project's rule for serving images from the registry.
type PullPolicy struct {
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
	// public keys, cosign format).
	RequireSignature bool     `json:"requireSignature,omitempty"`
	Keys             []string `json:"keys,omitempty"`
	// Exceptions are accepted vulnerabilities, as in an ignore file.
	Exceptions []IgnoreEntry `json:"exceptions,omitempty"`
	// VEX are OpenVEX documents (as JSON): not_affected and fixed
	// statements about an image's products suppress those findings.
	VEX []json.RawMessage `json:"vex,omitempty"`
	// ImmutableTags are tag patterns (path.Match globs, such as "v*")
	// that, once pushed, never move to another digest and are never
	// deleted.
	ImmutableTags []string `json:"immutableTags,omitempty"`
	// Retention removes old tags (never immutable ones).
	Retention *Retention `json:"retention,omitempty"`
}

// Retention keeps, in each repository, the KeepLast most recently pushed
// tags and every tag pulled within PulledWithinDays; the rest are removed,
// with their manifests when nothing else refers to them.
type Retention struct {
	KeepLast         int `json:"keepLast"`
	PulledWithinDays int `json:"pulledWithinDays,omitempty"`
}

// Immutable says whether a tag matches one of the immutable patterns.
func (p *PullPolicy) Immutable(tag string) bool {
	for _, pat := range p.ImmutableTags {
		if ok, _ := path.Match(pat, tag); ok {
			return true
		}
	}
	return false
}

// DefaultPullPolicy applies to a project without a policy: critical
// vulnerabilities and unscanned images are refused.
var DefaultPullPolicy = PullPolicy{BlockSeverity: "critical", Unscanned: "block", Unmatched: "warn", UnknownSeverity: "high"}

// ParsePullPolicy decodes a policy strictly (unknown keys are errors) and
// fills defaults.
func ParsePullPolicy(b []byte) (*PullPolicy, error) {
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
	if p.BlockSeverity != "none" {
		if _, err := severity.Parse(p.BlockSeverity); err != nil {
			return nil, fmt.Errorf("pull policy: blockSeverity: %w", err)
		}
	}
	switch p.Unscanned {
	case "":
		p.Unscanned = "block"
	case "block", "allow":
	default:
		return nil, fmt.Errorf("pull policy: unscanned %q: want block or allow", p.Unscanned)
	}
	switch p.Unmatched {
	case "":
		p.Unmatched = DefaultPullPolicy.Unmatched
	case "block", "warn", "allow":
	default:
		return nil, fmt.Errorf("pull policy: unmatched %q: want block, warn or allow", p.Unmatched)
	}
	if _, _, err := ParseUnknownSeverity(p.UnknownSeverity); err != nil {
		return nil, fmt.Errorf("pull policy: unknownSeverity: %w", err)
	}
	if p.UnknownSeverity == "" {
		p.UnknownSeverity = DefaultPullPolicy.UnknownSeverity
	}
	if p.RequireSignature && len(p.Keys) == 0 {
		return nil, fmt.Errorf("pull policy: requireSignature needs at least one key")
	}
	for _, pat := range p.ImmutableTags {
		if _, err := path.Match(pat, "x"); err != nil || pat == "" {
			return nil, fmt.Errorf("pull policy: immutableTags: bad pattern %q", pat)
		}
	}
	for i, v := range p.VEX {
		if _, err := ParseVEX(v); err != nil {
			return nil, fmt.Errorf("pull policy: vex %d: %w", i, err)
		}
	}
	if r := p.Retention; r != nil && (r.KeepLast < 1 || r.PulledWithinDays < 0) {
		return nil, fmt.Errorf("pull policy: retention: keepLast must be at least 1 and pulledWithinDays not negative")
	}
	if err := prepareEntries(p.Exceptions, "pull policy: exceptions"); err != nil {
		return nil, err
	}
	return &p, nil
}

// Vulnerabilities applies the policy to a scan's findings. It returns the
// results that block (none: the image may be served).
func (p *PullPolicy) Vulnerabilities(findings []match.Finding, subject string, now time.Time) []Result {
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
