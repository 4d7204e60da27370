package dockerbench

import "strings"

// Status is a verdict as docker-bench-security prints it.
type Status string

// The four verdicts. WARN is the only failing one; NOTE marks a check
// that needs a person (a manual check); INFO reports without judging.
const (
	Pass Status = "PASS"
	Warn Status = "WARN"
	Info Status = "INFO"
	Note Status = "NOTE"
)

// Line is one line printed under a check ("      * Running as root: web").
type Line struct {
	Status Status `json:"status"`
	Text   string `json:"text"`
}

// Result is one printed entry of a run: a check's verdict, or a section
// heading or notice (Heading), which is printed but neither counted nor
// in the JSON results.
type Result struct {
	ID     string `json:"id"`
	Desc   string `json:"desc"`
	Status Status `json:"result"`
	// Scored checks move the score: PASS +1, WARN -1 (docker-bench's -s).
	Scored  bool `json:"-"`
	Heading bool `json:"-"`
	// Suffix is appended to the printed line only, as docker-bench does:
	// "(Swarm mode not enabled)".
	Suffix string `json:"-"`
	// NoID prints the description alone (deprecated checks).
	NoID  bool   `json:"-"`
	Lines []Line `json:"-"`
	// Details and Items are the JSON log's fields: a message, and the
	// objects (containers, images, users) a listing check found.
	Details string   `json:"details,omitempty"`
	Items   []string `json:"items,omitempty"`
	// Manual is why a NOTE (or an unjudged INFO) check cannot be decided
	// from the host: what a person has to look at.
	Manual      string `json:"manual,omitempty"`
	Remediation string `json:"remediation,omitempty"`
	Impact      string `json:"remediation-impact,omitempty"`
}

func (r *Result) line(s Status, text string) { r.Lines = append(r.Lines, Line{s, text}) }

// set gives the verdict, with an optional JSON details message.
func (r *Result) set(s Status, scored bool, details string) {
	r.Status, r.Scored, r.Details = s, scored, details
}

// list gives the verdict of a listing check: WARN (or INFO) with the
// objects found, PASS when there are none.
func (r *Result) list(bad Status, scored bool, key string, items []string) {
	if len(items) == 0 {
		r.set(Pass, scored, "")
		return
	}
	r.Status, r.Scored, r.Items = bad, scored, items
	r.Details = key + ": " + strings.Join(items, " ")
}

// manual is a check a person decides.
func (r *Result) manual(s Status, why string) {
	r.Status, r.Manual = s, why
}
