package compliance

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// nistBaselines are the NIST SP 800-53 rev. 5 Moderate and High
// baselines (the FedRAMP Moderate and High basis) and the controls'
// titles, from NIST's OSCAL profiles and resolved catalog (public
// domain; TestBaselinesMatchCorpus keeps them equal to the corpus's).
//
//go:embed nist-800-53-baselines.json
var nistBaselines []byte

type baselines struct {
	Source   string            `json:"source"`
	Moderate []string          `json:"moderate"`
	High     []string          `json:"high"`
	Titles   map[string]string `json:"titles"`
}

// WithBaseline restricts a NIST SP 800-53 framework to a baseline
// ("moderate" or "high"): every control of the baseline, manual where no
// bulwark check evidences it, and no control outside it.
func (fw *Framework) WithBaseline(name string) (*Framework, error) {
	if !strings.HasPrefix(fw.Name, "NIST SP 800-53") {
		return nil, fmt.Errorf("--baseline applies to NIST SP 800-53, not to %s", fw.Name)
	}
	var b baselines
	if err := json.Unmarshal(nistBaselines, &b); err != nil {
		return nil, err
	}
	var ids []string
	switch strings.ToLower(name) {
	case "moderate":
		ids = b.Moderate
	case "high":
		ids = b.High
	default:
		return nil, fmt.Errorf("--baseline %q: want moderate or high", name)
	}
	mapped := map[string]Control{}
	for _, c := range fw.Controls {
		mapped[c.ID] = c
	}
	out := *fw
	out.Name = fw.Name + " (" + strings.ToUpper(name[:1]) + strings.ToLower(name[1:]) + " baseline)"
	out.Controls = nil
	for _, id := range ids {
		c, ok := mapped[id]
		if !ok {
			c = Control{ID: id}
		}
		if c.Title == "" {
			c.Title = b.Titles[id]
		}
		out.Controls = append(out.Controls, c)
	}
	return &out, nil
}

// oscalID turns an OSCAL control ID (ac-2.1) into NIST's notation
// (AC-2(1)), and back with toOSCAL.
func oscalID(id string) string {
	base, enh, ok := strings.Cut(id, ".")
	base = strings.ToUpper(base)
	if !ok {
		return base
	}
	return base + "(" + enh + ")"
}

func toOSCAL(id string) string {
	id = strings.ToLower(id)
	if base, enh, ok := strings.Cut(id, "("); ok {
		return base + "." + strings.TrimSuffix(enh, ")")
	}
	return id
}
