package policy

import (
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/severity"
)

// Result is a finding with its verdict.
type Result struct {
	match.Finding
	Suppressed *Suppression `json:"suppressed,omitempty"`
}

// Verdict is the outcome of applying exceptions and the gate to findings.
type Verdict struct {
	Results []Result `json:"results"`
	// Expired lists ignore entries past their expiry date: they no longer
	// apply, and whoever owns them must renew or fix.
	Expired []IgnoreEntry `json:"expiredIgnores,omitempty"`
	// Failing counts unsuppressed findings at or above the gate.
	Failing int `json:"failing"`
}

// Gate decides which findings count.
type Gate struct {
	// Severities are the levels reported; empty means all.
	Severities []severity.Level
	// IgnoreUnfixed drops findings without a fixed version.
	IgnoreUnfixed bool
	Ignore        *IgnoreFile
	VEX           []*VEX
	// Subject is the scanned image's digest, for VEX statements about it.
	Subject string
	Now     time.Time
}

// Apply filters findings by severity and fix availability, marks those an
// ignore entry or a VEX statement (not_affected or fixed) covers, and
// counts what remains. It never drops a finding silently: suppressed ones
// stay in Results with their reason.
func (g *Gate) Apply(fs []match.Finding) *Verdict {
	v := &Verdict{Results: []Result{}}
	if g.Ignore != nil {
		for _, e := range g.Ignore.Entries {
			if e.Expired(g.Now) {
				v.Expired = append(v.Expired, e)
			}
		}
	}
	for _, f := range fs {
		if !g.wants(f) {
			continue
		}
		r := Result{Finding: f, Suppressed: g.suppression(&f)}
		if r.Suppressed == nil {
			v.Failing++
		}
		v.Results = append(v.Results, r)
	}
	return v
}

func (g *Gate) wants(f match.Finding) bool {
	if g.IgnoreUnfixed && len(f.Fixed) == 0 {
		return false
	}
	return len(g.Severities) == 0 || severity.Selected(g.Severities, f.Severity)
}

func (g *Gate) suppression(f *match.Finding) *Suppression {
	if g.Ignore != nil {
		for i := range g.Ignore.Entries {
			e := &g.Ignore.Entries[i]
			if e.Expired(g.Now) || !e.covers(f) {
				continue
			}
			return &Suppression{Kind: "ignore", Reason: e.Reason, Source: g.Ignore.Path, Expires: e.Expires}
		}
	}
	for _, doc := range g.VEX {
		// The last statement about a vulnerability and product wins, as
		// OpenVEX documents are appended to over time.
		var last *VEXStatement
		for i := range doc.Statements {
			if doc.Statements[i].covers(f, g.Subject) {
				last = &doc.Statements[i]
			}
		}
		if last != nil && (last.Status == "not_affected" || last.Status == "fixed") {
			reason := strings.TrimSpace(strings.Join([]string{last.Justification, last.ImpactStatement}, ": "))
			reason = strings.Trim(reason, ": ")
			return &Suppression{Kind: "vex", Status: last.Status, Reason: reason, Source: doc.Path}
		}
	}
	return nil
}
