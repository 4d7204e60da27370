package compliance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// State is a control's state.
type State string

// The four states: a control fails when any of its evidence fails,
// passes when some passes and none fails, is not applicable when its
// checks judged nothing (no object of their kind), and is manual when no
// automated evidence exists for it.
const (
	Pass          State = "pass"
	Fail          State = "fail"
	NotApplicable State = "not-applicable"
	Manual        State = "manual"
)

// Evidence is one fact a control's state rests on.
type Evidence struct {
	// Source is "check", "docker-bench", "kube-bench" or "platform" (a
	// fact read from the server's store).
	Source string `json:"source"`
	// ID is the check's or benchmark recommendation's ID.
	ID     string `json:"id"`
	Status State  `json:"status"`
	// Object is what was judged: a Kubernetes object, a file and line,
	// a container, an image, a host.
	Object  string `json:"object,omitempty"`
	Message string `json:"message,omitempty"`
	// Input is the evidence file it came from.
	Input string `json:"input"`
}

// Input is an evidence file, named and hashed, so a report says what it
// was computed from.
type Input struct {
	File   string `json:"file"`
	Kind   string `json:"kind"`
	SHA256 string `json:"sha256"`
}

// Evidence is every fact read from the inputs, by the ID it evidences
// (a check ID, or a benchmark recommendation ID).
type EvidenceSet struct {
	Inputs []Input
	byID   map[string][]Evidence
}

// maxInput bounds one evidence file.
const maxInput = 256 << 20

func readInput(path, kind string) ([]byte, Input, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, Input{}, err
	}
	if fi.Size() > maxInput {
		return nil, Input{}, fmt.Errorf("%s: larger than %d MiB", path, maxInput>>20)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, Input{}, err
	}
	sum := sha256.Sum256(b)
	return b, Input{File: path, Kind: kind, SHA256: hex.EncodeToString(sum[:])}, nil
}

// commit adds a whole input's evidence: an input is read entirely or
// not at all.
func (e *EvidenceSet) commit(in Input, evs []Evidence) {
	if e.byID == nil {
		e.byID = map[string][]Evidence{}
	}
	for _, ev := range evs {
		e.byID[ev.ID] = append(e.byID[ev.ID], ev)
	}
	e.Inputs = append(e.Inputs, in)
}

// AddChecks reads a bulwark check report (check, check image, check
// docker: --format json).
func (e *EvidenceSet) AddChecks(path string) error {
	b, in, err := readInput(path, "checks")
	if err != nil {
		return err
	}
	return e.addChecks(path, in, b)
}

func (e *EvidenceSet) addChecks(path string, in Input, b []byte) error {
	var rep struct {
		SchemaVersion string `json:"schemaVersion"`
		Results       []struct {
			CheckID string `json:"checkID"`
			Status  string `json:"status"`
			Object  struct {
				Kind      string `json:"kind"`
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
				File      string `json:"file"`
			} `json:"object"`
			Line    int    `json:"line"`
			Message string `json:"message"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: not a bulwark check report (bulwark check --format json): %w", path, err)
	}
	if rep.SchemaVersion == "" {
		return fmt.Errorf("%s: not a bulwark check report (no schemaVersion; bulwark check --format json writes one)", path)
	}
	var evs []Evidence
	for _, r := range rep.Results {
		st := Pass
		switch r.Status {
		case "fail":
			st = Fail
		case "excepted":
			st = NotApplicable // an accepted exception: recorded, not counted
		}
		obj := strings.Trim(strings.Join([]string{r.Object.Kind, r.Object.Namespace, r.Object.Name}, "/"), "/")
		if r.Object.File != "" {
			obj += fmt.Sprintf(" (%s:%d)", r.Object.File, r.Line)
		}
		evs = append(evs, Evidence{Source: "check", ID: r.CheckID, Status: st, Object: obj, Message: r.Message, Input: path})
	}
	e.commit(in, evs)
	return nil
}

// AddDockerBench reads a CIS Docker Benchmark JSON log: bulwark cis
// docker's, or docker-bench-security's own.
func (e *EvidenceSet) AddDockerBench(path string) error {
	b, in, err := readInput(path, "docker-bench")
	if err != nil {
		return err
	}
	return e.addDockerBench(path, in, b)
}

func (e *EvidenceSet) addDockerBench(path string, in Input, b []byte) error {
	var log struct {
		Version string `json:"dockerbenchsecurity"`
		Tests   []struct {
			Results []struct {
				ID      string   `json:"id"`
				Result  string   `json:"result"`
				Details string   `json:"details"`
				Items   []string `json:"items"`
			} `json:"results"`
		} `json:"tests"`
	}
	if err := json.Unmarshal(b, &log); err != nil || log.Version == "" {
		return fmt.Errorf("%s: not a docker-bench-security JSON log (bulwark cis docker --format json, or docker-bench-security -l FILE's FILE.json)", path)
	}
	var evs []Evidence
	for _, t := range log.Tests {
		for _, r := range t.Results {
			st := map[string]State{"PASS": Pass, "WARN": Fail, "NOTE": Manual, "INFO": NotApplicable}[r.Result]
			if st == "" {
				return fmt.Errorf("%s: check %s: unknown result %q", path, r.ID, r.Result)
			}
			evs = append(evs, Evidence{Source: "docker-bench", ID: r.ID, Status: st, Object: strings.Join(r.Items, " "), Message: r.Details, Input: path})
		}
	}
	e.commit(in, evs)
	return nil
}

// AddKubeBench reads a CIS Kubernetes Benchmark JSON report: bulwark cis
// kubernetes --format json, or kube-bench --json.
func (e *EvidenceSet) AddKubeBench(path string) error {
	b, in, err := readInput(path, "kube-bench")
	if err != nil {
		return err
	}
	return e.addKubeBench(path, in, b)
}

func (e *EvidenceSet) addKubeBench(path string, in Input, b []byte) error {
	var rep struct {
		Controls []struct {
			NodeType string `json:"node_type"`
			Tests    []struct {
				Results []struct {
					Number string `json:"test_number"`
					Status string `json:"status"`
					Reason string `json:"reason"`
				} `json:"results"`
			} `json:"tests"`
		} `json:"Controls"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rep); err != nil || len(rep.Controls) == 0 {
		return fmt.Errorf("%s: not a kube-bench JSON report (bulwark cis kubernetes --format json, or kube-bench --json)", path)
	}
	var evs []Evidence
	for _, c := range rep.Controls {
		for _, g := range c.Tests {
			for _, r := range g.Results {
				st := map[string]State{"PASS": Pass, "FAIL": Fail, "WARN": Manual, "INFO": NotApplicable}[r.Status]
				if st == "" {
					return fmt.Errorf("%s: check %s: unknown status %q", path, r.Number, r.Status)
				}
				evs = append(evs, Evidence{Source: "kube-bench", ID: r.Number, Status: st, Object: c.NodeType, Message: r.Reason, Input: path})
			}
		}
	}
	e.commit(in, evs)
	return nil
}

// ControlResult is a control's state and its evidence: every piece that
// did not pass, itemized, and the passes counted by check (every one is
// in the CSV report).
type ControlResult struct {
	Control
	State    State      `json:"state"`
	Evidence []Evidence `json:"evidence"`
	Passed   []Tally    `json:"passed"`
	all      []Evidence
}

// Tally counts one check's passing results.
type Tally struct {
	Source string `json:"source"`
	ID     string `json:"id"`
	Count  int    `json:"count"`
}

// Score counts the controls by state.
type Score struct {
	Pass          int `json:"pass"`
	Fail          int `json:"fail"`
	NotApplicable int `json:"notApplicable"`
	Manual        int `json:"manual"`
	// Percent is passing controls among those that passed or failed.
	Percent float64 `json:"percent"`
}

// Assess judges every control of the framework from the evidence.
func Assess(fw *Framework, ev *EvidenceSet) ([]ControlResult, Score) {
	var out []ControlResult
	var score Score
	for _, c := range fw.Controls {
		r := ControlResult{Control: c, Evidence: []Evidence{}, Passed: []Tally{}}
		ids := append(slices.Clone(c.Checks), c.Facts...)
		if fw.Benchmark != "" {
			ids = append([]string{c.ID}, ids...)
		}
		// In the order of the control's IDs, each in input order: the
		// same inputs give the same order without sorting a million
		// pieces.
		for _, id := range ids {
			tallies := map[string]int{}
			for _, e := range ev.byID[id] {
				r.all = append(r.all, e)
				if e.Status != Pass {
					r.Evidence = append(r.Evidence, e)
					continue
				}
				i, ok := tallies[e.Source]
				if !ok {
					i = len(r.Passed)
					tallies[e.Source] = i
					r.Passed = append(r.Passed, Tally{Source: e.Source, ID: id})
				}
				r.Passed[i].Count++
			}
		}
		r.State = state(len(ids) > 0, r.all)
		switch r.State {
		case Pass:
			score.Pass++
		case Fail:
			score.Fail++
		case NotApplicable:
			score.NotApplicable++
		case Manual:
			score.Manual++
		}
		out = append(out, r)
	}
	if n := score.Pass + score.Fail; n > 0 {
		score.Percent = float64(int(float64(score.Pass)*1000/float64(n)+0.5)) / 10
	}
	return out, score
}

func state(mapped bool, ev []Evidence) State {
	if !mapped {
		return Manual
	}
	var pass, manual bool
	for _, e := range ev {
		switch e.Status {
		case Fail:
			return Fail
		case Pass:
			pass = true
		case Manual:
			manual = true
		}
	}
	switch {
	case pass:
		return Pass
	case manual:
		return Manual
	}
	return NotApplicable
}
