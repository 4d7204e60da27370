// Package sla is the patch clock (DESIGN M13): for each repository and
// vulnerability, how long its images have carried a finding that has a
// fix, against the deadline policy sets for its severity (critical and
// high within 72 hours by default).
//
// It reads the findings history the scan pipeline keeps (each digest's
// findings with when they were first seen, when their fix became known
// and when a rescan no longer found them) and the tag history (which
// digest each tag named when). It is a pure function of those and the
// time, so a clock's whole life can be replayed in a test.
package sla

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"bulwark.dev/bulwark/internal/severity"
)

// Finding is one finding of one digest, as the findings history holds it.
type Finding struct {
	Digest, Advisory, Package string
	Severity                  severity.Level
	// Fixed is the version that fixes it ("" while none is known).
	Fixed string
	// FirstSeen is its first sighting; FixSeen when a fix was first known
	// (zero: none yet); ResolvedAt when a rescan stopped finding it (an
	// advisory withdrawn or corrected; zero: open).
	FirstSeen, FixSeen, ResolvedAt time.Time
}

// TagPeriod is a span during which a repository's tag named a digest,
// or a running workload ran it.
type TagPeriod struct {
	Repo, Tag, Digest string
	// Workload is set, instead of Tag, for a running container ("SOURCE
	// NAMESPACE/POD/CONTAINER"): a tag moved to the fix does not stop the
	// clock while a cluster still runs the old digest.
	Workload string
	Since    time.Time
	// Until is when the tag moved or was deleted (zero: it still does).
	Until time.Time
}

// Policy says how long a fix may wait, per severity, and per project
// where a project's own policy says otherwise.
type Policy struct {
	// Due is the window per severity; a severity without one is tracked
	// (its time to remediate counts) but never breached. Nil is
	// DefaultPolicy's (critical and high in 72 hours); an empty map sets
	// no deadline.
	Due map[severity.Level]time.Duration
	// Projects override Due per project (the repository's first path
	// segment), severity by severity.
	Projects map[string]map[severity.Level]time.Duration
	// Warn is the fraction of the window after which an open clock is a
	// warning (default 0.75: 54 hours into 72).
	Warn float64
}

// DefaultPolicy fixes critical and high findings within 72 hours.
func DefaultPolicy() Policy {
	return Policy{Due: map[severity.Level]time.Duration{severity.Critical: 72 * time.Hour, severity.High: 72 * time.Hour}, Warn: 0.75}
}

func (p Policy) window(project string, sev severity.Level) (time.Duration, bool) {
	if o, ok := p.Projects[project][sev]; ok {
		return o, o > 0
	}
	d, ok := p.Due[sev]
	return d, ok && d > 0
}

// State is where a clock stands.
type State string

// States, in the order a report lists them.
const (
	// Breached: open past its deadline.
	Breached State = "breached"
	// Warning: open, past Policy.Warn of its window.
	Warning State = "warning"
	// Open: running, within its window.
	Open State = "open"
	// NoFix: the repository carries the finding but no fix is known; the
	// clock starts when one is.
	NoFix State = "no-fix"
	// Late: stopped, after its deadline.
	Late State = "late"
	// Met: stopped within its deadline (or without one).
	Met State = "met"
)

var stateOrder = map[State]int{Breached: 0, Warning: 1, Open: 2, NoFix: 3, Late: 4, Met: 5}

// Clock is one repository's exposure to one vulnerability in one
// package.
type Clock struct {
	Repo     string         `json:"repository"`
	Project  string         `json:"project"`
	Advisory string         `json:"vulnerability"`
	Package  string         `json:"package"`
	Severity severity.Level `json:"severity"`
	Fixed    string         `json:"fixedVersion,omitempty"`
	State    State          `json:"state"`
	// Start is when the repository first carried the finding with a fix
	// known; Due the deadline (zero without one); Stopped when no tag of
	// the repository named, and no workload ran, a digest with the
	// finding any more.
	Start   time.Time `json:"start,omitzero"`
	Due     time.Time `json:"due,omitzero"`
	Stopped time.Time `json:"stopped,omitzero"`
	// Digests are the repository's digests that carried it while tagged:
	// the evidence.
	Digests []string `json:"digests"`
	// Tags name those digests now (empty once stopped).
	Tags []string `json:"tags,omitempty"`
	// Workloads run them now.
	Workloads []string `json:"workloads,omitempty"`
}

// Key names a clock in notices and audit records.
func (c Clock) Key() string { return c.Repo + " " + c.Advisory + " " + c.Package }

// Elapsed is how long the clock has run by now (to its stop when
// stopped).
func (c Clock) Elapsed(now time.Time) time.Duration {
	if c.Start.IsZero() {
		return 0
	}
	end := now
	if !c.Stopped.IsZero() {
		end = c.Stopped
	}
	return max(end.Sub(c.Start), 0)
}

// Project is a repository's project: its first path segment.
func Project(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}

type clockKey struct{ repo, advisory, pkg string }

// acc gathers one clock's exposures: the intervals during which a tag
// of the repository named a digest carrying the finding.
type acc struct {
	c       Clock
	still   bool
	lastEnd time.Time
}

// Compute returns every clock at now, breached first, then by deadline,
// repository and vulnerability: the same inputs give the same order.
func Compute(now time.Time, pol Policy, findings []Finding, tags []TagPeriod) []Clock {
	return Judge(now, pol, Accumulate(now, findings, tags))
}

// Accumulate is what the history says of each clock at now, before the
// policy gives it a deadline and a state: when it started (a fix known),
// when it stopped (zero while a tag or a workload still carries the
// finding), the digests, tags and workloads. It holds until the history
// changes, so it can be kept (Refresh) and judged later.
func Accumulate(now time.Time, findings []Finding, tags []TagPeriod) []Clock {
	byDigest := map[string][]*Finding{}
	for i := range findings {
		f := &findings[i]
		byDigest[f.Digest] = append(byDigest[f.Digest], f)
	}
	// Accumulators are allocated in chunks: a million clocks are neither a
	// million allocations nor one slice copied as it grows.
	idx := make(map[clockKey]*acc, len(tags))
	var order []*acc
	var chunk []acc
	for _, tp := range tags {
		for _, f := range byDigest[tp.Digest] {
			// The interval the tag named the digest and the finding was
			// on record for it.
			from := later(tp.Since, f.FirstSeen)
			to := earliest(tp.Until, f.ResolvedAt)
			if (!to.IsZero() && !to.After(from)) || from.After(now) {
				continue
			}
			k := clockKey{tp.Repo, f.Advisory, f.Package}
			a := idx[k]
			if a == nil {
				if len(chunk) == 0 {
					chunk = make([]acc, 4096)
				}
				a, chunk = &chunk[0], chunk[1:]
				a.c = Clock{Repo: tp.Repo, Project: Project(tp.Repo), Advisory: f.Advisory, Package: f.Package}
				idx[k] = a
				order = append(order, a)
			}
			c := &a.c
			c.Digests = addUnique(c.Digests, f.Digest)
			c.Severity = max(c.Severity, f.Severity)
			if f.Fixed != "" {
				c.Fixed = f.Fixed
			}
			if !f.FixSeen.IsZero() {
				// When, within the interval, a fix was known.
				if fa := later(from, f.FixSeen); (to.IsZero() || fa.Before(to)) && (c.Start.IsZero() || fa.Before(c.Start)) {
					c.Start = fa
				}
			}
			if to.IsZero() || to.After(now) {
				a.still = true
				if tp.Workload != "" {
					c.Workloads = addUnique(c.Workloads, tp.Workload)
				} else {
					c.Tags = addUnique(c.Tags, tp.Tag)
				}
			} else if to.After(a.lastEnd) {
				a.lastEnd = to
			}
		}
	}
	out := make([]Clock, len(order))
	for i, a := range order {
		c := &a.c
		slices.Sort(c.Digests)
		slices.Sort(c.Tags)
		slices.Sort(c.Workloads)
		if !a.still {
			c.Stopped = a.lastEnd
		}
		out[i] = *c
	}
	return out
}

// Judge gives each accumulated clock its deadline and state at now, and
// sorts them: breached first, then by deadline, repository and
// vulnerability.
func Judge(now time.Time, pol Policy, clocks []Clock) []Clock {
	if pol.Warn <= 0 || pol.Warn >= 1 {
		pol.Warn = 0.75
	}
	if pol.Due == nil {
		pol.Due = DefaultPolicy().Due
	}
	for i := range clocks {
		clocks[i].judge(now, pol)
	}
	// Sorted through keys: moving 183,000 clocks of 250 bytes each
	// through a sort, and a map lookup per comparison, cost more than the
	// comparisons themselves.
	type key struct {
		rank int
		due  int64 // no deadline: last
		c    *Clock
	}
	keys := make([]key, len(clocks))
	for i := range clocks {
		c := &clocks[i]
		k := key{rank: stateOrder[c.State], due: math.MaxInt64, c: c}
		if !c.Due.IsZero() {
			k.due = c.Due.UnixNano()
		}
		keys[i] = k
	}
	slices.SortFunc(keys, func(x, y key) int {
		if x.rank != y.rank {
			return x.rank - y.rank
		}
		if x.due != y.due {
			return cmp.Compare(x.due, y.due)
		}
		a, b := x.c, y.c
		if d := strings.Compare(a.Repo, b.Repo); d != 0 {
			return d
		}
		if d := strings.Compare(a.Advisory, b.Advisory); d != 0 {
			return d
		}
		return strings.Compare(a.Package, b.Package)
	})
	out := make([]Clock, len(keys))
	for i, k := range keys {
		out[i] = *k.c
	}
	return out
}

// judge sets the clock's deadline and state at now.
func (c *Clock) judge(now time.Time, pol Policy) {
	if c.Tags == nil {
		c.Tags = []string{}
	}
	still := c.Stopped.IsZero()
	win, hasDue := pol.window(c.Project, c.Severity)
	c.Due = time.Time{}
	if !c.Start.IsZero() && hasDue {
		c.Due = c.Start.Add(win)
	}
	switch {
	case c.Start.IsZero() && still:
		c.State = NoFix
	case c.Start.IsZero():
		c.State = Met // gone before any fix was known: nothing was late
	case !still && hasDue && c.Stopped.After(c.Due):
		c.State = Late
	case !still:
		c.State = Met
	case hasDue && now.After(c.Due):
		c.State = Breached
	case hasDue && now.Sub(c.Start) > time.Duration(float64(win)*pol.Warn):
		c.State = Warning
	default:
		c.State = Open
	}
}

// addUnique appends s unless present: a clock has a few digests and tags.
func addUnique(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// earliest of two ends, zero meaning "not yet".
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case a.Before(b):
		return a
	}
	return b
}

// MTTR is the mean time to remediate of one project and severity, over
// the clocks that stopped.
type MTTR struct {
	Project  string         `json:"project"`
	Severity severity.Level `json:"severity"`
	Stopped  int            `json:"stopped"`
	Mean     time.Duration  `json:"meanNanoseconds"`
	// Late is how many of them stopped past their deadline.
	Late int `json:"late"`
}

// Summary is a report's totals: clocks per state, and the mean time to
// remediate per project and severity.
type Summary struct {
	States map[State]int `json:"states"`
	MTTR   []MTTR        `json:"mttr"`
}

// Summarize totals clocks.
func Summarize(clocks []Clock) Summary {
	s := Summary{States: map[State]int{}, MTTR: []MTTR{}}
	type key struct {
		p   string
		sev severity.Level
	}
	acc := map[key]*MTTR{}
	var sum = map[key]time.Duration{}
	for _, c := range clocks {
		s.States[c.State]++
		if c.Stopped.IsZero() || c.Start.IsZero() {
			continue
		}
		k := key{c.Project, c.Severity}
		m := acc[k]
		if m == nil {
			m = &MTTR{Project: c.Project, Severity: c.Severity}
			acc[k] = m
		}
		m.Stopped++
		sum[k] += c.Stopped.Sub(c.Start)
		if c.State == Late {
			m.Late++
		}
	}
	for k, m := range acc {
		m.Mean = sum[k] / time.Duration(m.Stopped)
		s.MTTR = append(s.MTTR, *m)
	}
	slices.SortFunc(s.MTTR, func(a, b MTTR) int {
		if d := strings.Compare(a.Project, b.Project); d != 0 {
			return d
		}
		return int(b.Severity - a.Severity)
	})
	return s
}

// ParsePolicy reads "CRITICAL=72h,HIGH=72h,MEDIUM=720h" (durations in
// Go's syntax, or days as "30d"); a severity set to 0 has no deadline.
func ParsePolicy(s string) (map[severity.Level]time.Duration, error) {
	out := map[severity.Level]time.Duration{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("sla policy %q: want SEVERITY=DURATION (CRITICAL=72h)", part)
		}
		lvl, err := severity.Parse(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("sla policy %q: %w", part, err)
		}
		d, err := parseDuration(strings.TrimSpace(val))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("sla policy %q: %q is not a duration (72h, 30d)", part, val)
		}
		if _, dup := out[lvl]; dup {
			return nil, fmt.Errorf("sla policy: %s given twice", lvl)
		}
		out[lvl] = d
	}
	return out, nil
}

func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n {
			return 0, fmt.Errorf("bad days %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
