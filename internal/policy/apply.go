package policy

import (
	"fmt"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/severity"
)

// Result is a finding with its verdict.
type Result struct {
	match.Finding
	Suppressed *Suppression `json:"suppressed,omitempty"`
	// CountedAs is the level a finding of unknown severity was counted
	// as by the gate (unknownSeverity, --unknown-severity).
	CountedAs *severity.Level `json:"countedAs,omitempty"`
}

// Level is the severity the gate judged the result by.
func (r *Result) Level() severity.Level {
	if r.CountedAs != nil {
		return *r.CountedAs
	}
	return r.Severity
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
	// UnknownAs is the level findings of unknown severity count as
	// (Unknown: as themselves); IgnoreUnknown drops them instead.
	UnknownAs     severity.Level
	IgnoreUnknown bool
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
		r := Result{Finding: f}
		if f.Severity == severity.Unknown && g.UnknownAs != severity.Unknown {
			as := g.UnknownAs
			r.CountedAs = &as
		}
		if !g.wants(&r) {
			continue
		}
		r.Suppressed = g.suppression(&f)
		if r.Suppressed == nil {
			v.Failing++
		}
		v.Results = append(v.Results, r)
	}
	return v
}

func (g *Gate) wants(r *Result) bool {
	if g.IgnoreUnfixed && len(r.Fixed) == 0 || g.IgnoreUnknown && r.Severity == severity.Unknown {
		return false
	}
	return len(g.Severities) == 0 || severity.Selected(g.Severities, r.Level())
}

// ParseUnknownSeverity reads an unknownSeverity setting: a level findings
// of unknown severity count as, or "ignore"; "" is the default, high.
// Unknown is not a silent pass: the Go vulnerability database and the
// Alpine secdb rate nothing, so treating unknown as below every threshold
// would serve every image they flag.
func ParseUnknownSeverity(s string) (as severity.Level, ignore bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return severity.High, false, nil
	case "ignore":
		return severity.Unknown, true, nil
	case "unknown":
		return severity.Unknown, false, nil
	}
	l, err := severity.Parse(s)
	if err != nil {
		return 0, false, fmt.Errorf("%q: want critical, high, medium, low, unknown (report as unknown) or ignore", s)
	}
	return l, false, nil
}

func (g *Gate) suppression(f *match.Finding) *Suppression {
	if g.Ignore != nil {
		for i := range g.Ignore.Entries {
			e := &g.Ignore.Entries[i]
			if e.Expired(g.Now) || !e.covers(f) {
				continue
			}
			g.Ignore.markUsed(i)
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
