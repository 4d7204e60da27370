package dockerbench

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Options choose what a run covers.
type Options struct {
	// Checks are the check IDs ("5.1"), sections ("5"), or
	// docker-bench-security's function and group names ("check_5_1",
	// "container_runtime", "cis", "all") to run. Empty runs sections 1-7,
	// as docker-bench-security does by default.
	Checks []string
	// Exclude are IDs, sections or names not to run.
	Exclude []string
	// Include and ExcludeNames are regular expressions on container and
	// image names (docker-bench-security's -i and -x): only matching,
	// or only not matching, ones are judged.
	Include, ExcludeNames []string
	// TrustedUsers are the members of the docker group a person vouched
	// for (-u); without them 1.1.2 lists the members for review.
	TrustedUsers []string
	// Now is the run's time (1.2.2 compares the engine with last
	// month's release number).
	Now time.Time

	inc, exc   []*regexp.Regexp
	allRunning int
}

// selected reports whether a container or image name is judged.
func (o *Options) selected(names ...string) bool {
	match := func(res []*regexp.Regexp) bool {
		for _, re := range res {
			for _, n := range names {
				if re.MatchString(n) {
					return true
				}
			}
		}
		return false
	}
	if len(o.inc) > 0 {
		return match(o.inc)
	}
	if len(o.exc) > 0 {
		return !match(o.exc)
	}
	return true
}

// groups are docker-bench-security's group function names.
var groups = map[string][]string{
	"host_configuration":                    {"1"},
	"linux_hosts_specific_configuration":    {"1.1"},
	"host_general_configuration":            {"1.2"},
	"docker_daemon_configuration":           {"2"},
	"docker_daemon_files":                   {"3"},
	"container_images":                      {"4"},
	"container_runtime":                     {"5"},
	"docker_security_operations":            {"6"},
	"docker_swarm_configuration":            {"7"},
	"docker_enterprise_configuration":       {"8"},
	"universal_control_plane_configuration": {"8.1"},
	"docker_trusted_registry_configuration": {"8.2"},
	"community_checks":                      {"99"},
	"community":                             {"99"},
	"cis":                                   {"1", "2", "3", "4", "5", "6", "7"},
}

// resolve turns one selection token into catalogue IDs.
func (c *Catalog) resolve(tok string) ([]string, error) {
	tok = strings.TrimSpace(tok)
	if tok == "all" {
		ids := make([]string, len(c.Entries))
		for i, e := range c.Entries {
			ids[i] = e.ID
		}
		return ids, nil
	}
	if g, ok := groups[tok]; ok {
		var ids []string
		for _, t := range g {
			x, _ := c.resolve(t)
			ids = append(ids, x...)
		}
		return ids, nil
	}
	id := tok
	if rest, ok := strings.CutPrefix(tok, "check_"); ok {
		id = strings.ReplaceAll(rest, "_", ".")
		if id == "c" || strings.HasPrefix(id, "c.") {
			id = "C" + id[1:]
		}
		if id == "C" {
			id = "99"
		}
	}
	e, ok := c.Lookup(id)
	if !ok {
		return nil, fmt.Errorf("no check %q in the CIS Docker Benchmark (docker-bench-security %s); `bulwark cis docker --list` shows them", tok, c.Source)
	}
	if _, isCheck := registry[e.ID]; isCheck {
		return []string{e.ID}, nil
	}
	// A heading selects its section or subsection.
	var ids []string
	for _, x := range c.Entries {
		if x.ID == e.ID || strings.HasPrefix(x.ID, e.ID+".") || (len(strings.Split(e.ID, ".")) == 1 && x.Section == e.ID) {
			ids = append(ids, x.ID)
		}
	}
	return ids, nil
}

// Report is one run's results in the benchmark's order.
type Report struct {
	Source string
	// Sections are the headings' descriptions by ID, for results whose
	// heading was not selected.
	Sections   map[string]string
	Start, End time.Time
	Results    []Result
	// Checks counts the judged entries and Score is scored PASSes less
	// scored WARNs, as docker-bench-security computes them.
	Checks, Score int
}

// Run judges a host snapshot.
func Run(cat *Catalog, h *Host, opt Options) (*Report, error) {
	for _, p := range opt.Include {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("--include %q: %w", p, err)
		}
		opt.inc = append(opt.inc, re)
	}
	for _, p := range opt.ExcludeNames {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("--exclude-names %q: %w", p, err)
		}
		opt.exc = append(opt.exc, re)
	}
	want := map[string]bool{}
	sel := opt.Checks
	if len(sel) == 0 {
		sel = []string{"cis"}
	}
	for _, t := range sel {
		ids, err := cat.resolve(t)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			want[id] = true
		}
	}
	for _, t := range opt.Exclude {
		ids, err := cat.resolve(t)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			delete(want, id)
		}
	}
	r := &run{h: h, opt: opt, args: normalizeArgs(h.DaemonArgs)}
	r.opt.allRunning = len(h.Containers)
	for i := range h.Containers {
		if c := &h.Containers[i]; r.opt.selected(c.name()) {
			r.containers = append(r.containers, c)
		}
	}
	for i := range h.Images {
		if im := &h.Images[i]; r.opt.selected(append(slices.Clone(im.RepoTags), im.ID)...) {
			r.images = append(r.images, im)
		}
	}
	rep := &Report{Source: cat.Source, Start: opt.Now, End: opt.Now, Sections: map[string]string{}}
	for _, e := range cat.Entries {
		if !strings.Contains(e.ID, ".") {
			rep.Sections[e.ID] = e.Desc
		}
	}
	for _, e := range cat.Entries {
		if !want[e.ID] {
			continue
		}
		c, isCheck := registry[e.ID]
		if !isCheck {
			rep.Results = append(rep.Results, Result{ID: e.ID, Desc: e.Desc, Status: Info, Heading: true})
			switch {
			case e.ID == "5" && len(r.containers) == 0:
				rep.Results = append(rep.Results, Result{Desc: "  * No containers running, skipping Section 5", Status: Info, Heading: true})
			case e.ID == "8" && r.community():
				rep.Results = append(rep.Results, Result{Desc: "  * Community Engine license, skipping section 8", Status: Info, Heading: true})
			}
			continue
		}
		if (c.containers && len(r.containers) == 0) || (c.enterprise && r.community()) {
			continue
		}
		res := Result{ID: e.ID, Desc: e.Desc, Status: Info}
		c.run(r, &res)
		if res.Status != Pass {
			res.Remediation, res.Impact = e.Remediation, e.Impact
		}
		rep.Results = append(rep.Results, res)
		rep.Checks++
		if res.Scored {
			switch res.Status {
			case Pass:
				rep.Score++
			case Warn:
				rep.Score--
			}
		}
	}
	return rep, nil
}

// Failed is the number of WARN verdicts: what a gate fails on.
func (rep *Report) Failed() int {
	n := 0
	for _, r := range rep.Results {
		if !r.Heading && r.Status == Warn {
			n++
		}
	}
	return n
}

// manualChecks need a person: the engine and host do not hold the answer.
var manualChecks = map[string]bool{
	"1.2.1": true, "2.1": true, "4.2": true, "4.3": true, "4.4": true, "4.8": true, "4.10": true, "4.11": true, "4.12": true,
	"5.23": true, "5.24": true, "5.28": true, "6.1": true, "6.2": true, "7.6": true, "7.8": true, "7.9": true,
	"8.1.1": true, "8.1.2": true, "8.1.3": true, "8.1.4": true, "8.1.5": true, "8.1.6": true, "8.1.7": true, "8.2.1": true,
}

// Kind says what an entry of the catalogue is: "section" (a heading),
// "manual" (a person decides; see ManualReason), "example" (the two
// sample checks docker-bench-security ships) or "automated".
func Kind(id string) string {
	switch {
	case registry[id].run == nil:
		return "section"
	case manualChecks[id]:
		return "manual"
	case id == "C.1" || id == "C.1.1":
		return "example"
	}
	return "automated"
}

// ManualReason is why a manual check cannot be decided from the host.
func ManualReason(id string) string {
	c, ok := registry[id]
	if !ok || !manualChecks[id] {
		return ""
	}
	res := Result{ID: id}
	h := &Host{}
	h.Info.Swarm.LocalNodeState = "active" // the swarm checks are manual only on a swarm node
	c.run(&run{h: h}, &res)
	return res.Manual
}
