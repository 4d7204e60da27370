package sla

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/severity"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func h(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }

// view is what a test compares of a clock.
type view struct {
	Repo, Advisory string
	State          State
	Start, Due     time.Time
	Stopped        time.Time
	Digests, Tags  []string
}

func views(cs []Clock) []view {
	var out []view
	for _, c := range cs {
		out = append(out, view{c.Repo, c.Advisory, c.State, c.Start, c.Due, c.Stopped, c.Digests, c.Tags})
	}
	return out
}

// TestClockLife runs clocks through their whole life with an injected
// time: started when a fix is known, a warning past 75% of the window, a
// breach past it, stopped when every tag has moved to a digest without
// the finding (in time, or late), a fix that appears days after the
// finding, an image no longer in use, and a tag that moves to another
// vulnerable digest.
func TestClockLife(t *testing.T) {
	high := Finding{Digest: "sha256:d1", Advisory: "CVE-2026-0001", Package: "openssl@3.0.1", Severity: severity.High, Fixed: "3.0.2", FirstSeen: h(0), FixSeen: h(0)}
	tagged := []TagPeriod{{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0)}}
	movedAt := func(n int, to string) []TagPeriod {
		return []TagPeriod{
			{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0), Until: h(n)},
			{Repo: "shop/app", Tag: "v1", Digest: to, Since: h(n)},
		}
	}
	nofix := high
	nofix.Fixed, nofix.FixSeen = "", time.Time{}
	fixLater := high
	fixLater.FixSeen = h(100)
	alsoVulnerable := high
	alsoVulnerable.Digest = "sha256:d2"
	alsoVulnerable.FirstSeen, alsoVulnerable.FixSeen = h(40), h(40)
	for _, tc := range []struct {
		name     string
		now      time.Time
		findings []Finding
		tags     []TagPeriod
		want     []view
	}{
		{"started", h(10), []Finding{high}, tagged,
			[]view{{"shop/app", "CVE-2026-0001", Open, h(0), h(72), time.Time{}, []string{"sha256:d1"}, []string{"v1"}}}},
		{"warning past 54 of 72 hours", h(60), []Finding{high}, tagged,
			[]view{{"shop/app", "CVE-2026-0001", Warning, h(0), h(72), time.Time{}, []string{"sha256:d1"}, []string{"v1"}}}},
		{"breached", h(73), []Finding{high}, tagged,
			[]view{{"shop/app", "CVE-2026-0001", Breached, h(0), h(72), time.Time{}, []string{"sha256:d1"}, []string{"v1"}}}},
		{"fixed in time", h(100), []Finding{high}, movedAt(50, "sha256:d9"),
			[]view{{"shop/app", "CVE-2026-0001", Met, h(0), h(72), h(50), []string{"sha256:d1"}, []string{}}}},
		{"fixed late", h(100), []Finding{high}, movedAt(80, "sha256:d9"),
			[]view{{"shop/app", "CVE-2026-0001", Late, h(0), h(72), h(80), []string{"sha256:d1"}, []string{}}}},
		{"no fix yet", h(90), []Finding{nofix}, tagged,
			[]view{{"shop/app", "CVE-2026-0001", NoFix, time.Time{}, time.Time{}, time.Time{}, []string{"sha256:d1"}, []string{"v1"}}}},
		{"a fix appears later: the clock starts then", h(120), []Finding{fixLater}, tagged,
			[]view{{"shop/app", "CVE-2026-0001", Open, h(100), h(172), time.Time{}, []string{"sha256:d1"}, []string{"v1"}}}},
		{"image no longer in use", h(100), []Finding{high},
			[]TagPeriod{{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0), Until: h(30)}},
			[]view{{"shop/app", "CVE-2026-0001", Met, h(0), h(72), h(30), []string{"sha256:d1"}, []string{}}}},
		{"moved to a digest that has it too: still running", h(80), []Finding{high, alsoVulnerable}, movedAt(40, "sha256:d2"),
			[]view{{"shop/app", "CVE-2026-0001", Breached, h(0), h(72), time.Time{}, []string{"sha256:d1", "sha256:d2"}, []string{"v1"}}}},
		{"another tag still names it", h(80), []Finding{high},
			append(movedAt(10, "sha256:d9"), TagPeriod{Repo: "shop/app", Tag: "latest", Digest: "sha256:d1", Since: h(0)}),
			[]view{{"shop/app", "CVE-2026-0001", Breached, h(0), h(72), time.Time{}, []string{"sha256:d1"}, []string{"latest"}}}},
		{"the advisory was withdrawn (resolved by a rescan)", h(100), []Finding{{Digest: "sha256:d1", Advisory: "CVE-2026-0001", Package: "openssl@3.0.1", Severity: severity.High, Fixed: "3.0.2", FirstSeen: h(0), FixSeen: h(0), ResolvedAt: h(20)}}, tagged,
			[]view{{"shop/app", "CVE-2026-0001", Met, h(0), h(72), h(20), []string{"sha256:d1"}, []string{}}}},
		{"a digest tagged after the finding: the clock starts at the tag", h(10), []Finding{high},
			[]TagPeriod{{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(5)}},
			[]view{{"shop/app", "CVE-2026-0001", Open, h(5), h(77), time.Time{}, []string{"sha256:d1"}, []string{"v1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := views(Compute(tc.now, DefaultPolicy(), tc.findings, tc.tags))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestRunningWorkloads: a tag moved to the fix does not stop the clock
// while a cluster still runs the old digest; the clock stops when the
// last such workload does (or moves to the fix), and a workload running
// a digest no tag names keeps the clock running alone.
func TestRunningWorkloads(t *testing.T) {
	high := Finding{Digest: "sha256:d1", Advisory: "CVE-2026-0001", Package: "openssl@3.0.1", Severity: severity.High, Fixed: "3.0.2", FirstSeen: h(0), FixSeen: h(0)}
	moved := []TagPeriod{
		{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0), Until: h(50)},
		{Repo: "shop/app", Tag: "v1", Digest: "sha256:d9", Since: h(50)},
	}
	pod := func(name string, until int) TagPeriod {
		p := TagPeriod{Repo: "shop/app", Workload: "prod shop/" + name + "/app", Digest: "sha256:d1", Since: h(1)}
		if until > 0 {
			p.Until = h(until)
		}
		return p
	}
	type got struct {
		State           State
		Stopped         time.Time
		Tags, Workloads []string
	}
	for _, tc := range []struct {
		name string
		tags []TagPeriod
		want got
	}{
		{"the tag moved, two pods still run the old digest", append(moved, pod("app-2", 0), pod("app-1", 0)),
			got{Breached, time.Time{}, []string{}, []string{"prod shop/app-1/app", "prod shop/app-2/app"}}},
		{"the pods were replaced after the deadline", append(moved, pod("app-1", 60), pod("app-2", 90)),
			got{Late, h(90), []string{}, nil}},
		{"the pods were replaced in time", append(moved, pod("app-1", 60), pod("app-2", 70)),
			got{Met, h(70), []string{}, nil}},
		{"a pod of an untagged digest", []TagPeriod{pod("app-1", 0)},
			got{Breached, time.Time{}, []string{}, []string{"prod shop/app-1/app"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := Compute(h(100), DefaultPolicy(), []Finding{high}, tc.tags)
			if len(cs) != 1 {
				t.Fatalf("%d clocks: %+v", len(cs), cs)
			}
			c := cs[0]
			if d := cmp.Diff(tc.want, got{c.State, c.Stopped, c.Tags, c.Workloads}); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestPolicy: per-project overrides, severities without a deadline, the
// order of a report, and the mean time to remediate.
func TestPolicy(t *testing.T) {
	f := func(digest, adv string, sev severity.Level) Finding {
		return Finding{Digest: digest, Advisory: adv, Package: "p@1", Severity: sev, Fixed: "2", FirstSeen: h(0), FixSeen: h(0)}
	}
	findings := []Finding{f("sha256:a", "CVE-A", severity.High), f("sha256:b", "CVE-B", severity.High), f("sha256:b", "CVE-M", severity.Medium), f("sha256:c", "CVE-C", severity.Critical)}
	tags := []TagPeriod{
		{Repo: "prod/api", Tag: "v1", Digest: "sha256:a", Since: h(0)},
		{Repo: "dev/api", Tag: "v1", Digest: "sha256:b", Since: h(0)},
		{Repo: "dev/web", Tag: "v1", Digest: "sha256:c", Since: h(0), Until: h(10)},
	}
	pol := DefaultPolicy()
	pol.Projects = map[string]map[severity.Level]time.Duration{"prod": {severity.High: 24 * time.Hour}}
	got := Compute(h(30), pol, findings, tags)
	var order []string
	for _, c := range got {
		order = append(order, string(c.State)+" "+c.Key())
	}
	want := []string{"breached prod/api CVE-A p@1", "open dev/api CVE-B p@1", "open dev/api CVE-M p@1", "met dev/web CVE-C p@1"}
	if d := cmp.Diff(want, order); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, c := range Compute(h(1000), pol, findings, tags) {
		if c.Severity == severity.Medium && (c.State != Open || !c.Due.IsZero()) {
			t.Errorf("medium: %s, due %v; want open with no deadline", c.State, c.Due)
		}
	}
	sum := Summarize(got)
	if d := cmp.Diff(map[State]int{Breached: 1, Open: 2, Met: 1}, sum.States); d != "" {
		t.Errorf("states (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]MTTR{{Project: "dev", Severity: severity.Critical, Stopped: 1, Mean: 10 * time.Hour}}, sum.MTTR); d != "" {
		t.Errorf("mttr (-want +got):\n%s", d)
	}
}

func TestParsePolicy(t *testing.T) {
	got, err := ParsePolicy("critical=24h, HIGH=3d,medium=0")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[severity.Level]time.Duration{severity.Critical: 24 * time.Hour, severity.High: 72 * time.Hour, severity.Medium: 0}, got); d != "" {
		t.Error(d)
	}
	for _, bad := range []string{"HIGH", "HIGH=soon", "SEVERE=1h", "HIGH=1h,HIGH=2h", "HIGH=-1h", "HIGH=1.5d"} {
		if _, err := ParsePolicy(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
