package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/package-url/packageurl-go"

	"bulwark.dev/bulwark/internal/match"
)

// VEX is a parsed OpenVEX document.
type VEX struct {
	Path       string
	ID         string
	Statements []VEXStatement
}

// VEXStatement is one OpenVEX statement, reduced to what matching needs.
type VEXStatement struct {
	// Vulnerability holds the vulnerability's name and aliases.
	Vulnerability []string
	// Products are the PURLs the statement is about, subcomponents
	// included.
	Products        []string
	Status          string
	Justification   string
	ImpactStatement string
}

// OpenVEX JSON: vulnerability and products were plain strings in early
// documents and objects since v0.2.0; both are read.
type vexDoc struct {
	Context    string            `json:"@context"`
	ID         string            `json:"@id"`
	Statements []json.RawMessage `json:"statements"`
}

type vexStatement struct {
	Vulnerability   json.RawMessage   `json:"vulnerability"`
	Products        []json.RawMessage `json:"products"`
	Status          string            `json:"status"`
	Justification   string            `json:"justification"`
	ImpactStatement string            `json:"impact_statement"`
}

type vexVuln struct {
	ID      string   `json:"@id"`
	Name    string   `json:"name"`
	Aliases []string `json:"aliases"`
}

type vexProduct struct {
	ID          string `json:"@id"`
	Identifiers struct {
		PURL string `json:"purl"`
	} `json:"identifiers"`
	Subcomponents []vexProduct `json:"subcomponents"`
}

var vexStatuses = map[string]bool{"not_affected": true, "affected": true, "fixed": true, "under_investigation": true}

// LoadVEX reads an OpenVEX document.
func LoadVEX(path string) (*VEX, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("VEX: %w", err)
	}
	v, err := ParseVEX(b)
	if err != nil {
		return nil, fmt.Errorf("VEX %s: %w", path, err)
	}
	v.Path = path
	return v, nil
}

// ParseVEX parses OpenVEX JSON.
func ParseVEX(b []byte) (*VEX, error) {
	var d vexDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("not OpenVEX JSON: %w", err)
	}
	if !strings.HasPrefix(d.Context, "https://openvex.dev/ns") {
		return nil, fmt.Errorf("@context %q is not OpenVEX (https://openvex.dev/ns/...)", d.Context)
	}
	out := &VEX{ID: d.ID}
	for i, raw := range d.Statements {
		var s vexStatement
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("statements[%d]: %w", i, err)
		}
		if !vexStatuses[s.Status] {
			return nil, fmt.Errorf("statements[%d]: status %q (want not_affected, affected, fixed or under_investigation)", i, s.Status)
		}
		if s.Status == "not_affected" && s.Justification == "" && s.ImpactStatement == "" {
			return nil, fmt.Errorf("statements[%d]: not_affected needs a justification or an impact_statement", i)
		}
		st := VEXStatement{Status: s.Status, Justification: s.Justification, ImpactStatement: s.ImpactStatement}
		var name string
		if json.Unmarshal(s.Vulnerability, &name) == nil {
			st.Vulnerability = []string{name}
		} else {
			var v vexVuln
			if err := json.Unmarshal(s.Vulnerability, &v); err != nil {
				return nil, fmt.Errorf("statements[%d].vulnerability: %w", i, err)
			}
			for _, n := range append([]string{v.Name, v.ID}, v.Aliases...) {
				if n != "" {
					st.Vulnerability = append(st.Vulnerability, n)
				}
			}
		}
		if len(st.Vulnerability) == 0 {
			return nil, fmt.Errorf("statements[%d]: no vulnerability", i)
		}
		for j, pr := range s.Products {
			var id string
			if json.Unmarshal(pr, &id) == nil {
				st.Products = append(st.Products, id)
				continue
			}
			var p vexProduct
			if err := json.Unmarshal(pr, &p); err != nil {
				return nil, fmt.Errorf("statements[%d].products[%d]: %w", i, j, err)
			}
			st.Products = append(st.Products, productIDs(p)...)
		}
		out.Statements = append(out.Statements, st)
	}
	return out, nil
}

func productIDs(p vexProduct) []string {
	var out []string
	for _, s := range []string{p.ID, p.Identifiers.PURL} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, sc := range p.Subcomponents {
		out = append(out, productIDs(sc)...)
	}
	return out
}

// covers reports whether the statement is about the finding: one of its
// vulnerability names is the finding's ID or an alias, and one of its
// products is the package (by PURL, version optional) or the scanned
// image (by digest or PURL naming the digest).
func (s *VEXStatement) covers(f *match.Finding, subject string) bool {
	hit := false
	for _, v := range s.Vulnerability {
		if idIn(v, f) {
			hit = true
		}
	}
	if !hit {
		return false
	}
	for _, p := range s.Products {
		if strings.HasPrefix(p, "pkg:") {
			if pu, err := packageurl.FromString(p); err == nil && purlCovers(&pu, f.Package.PURL) {
				return true
			}
		}
		if subject != "" && strings.Contains(p, subject) {
			return true
		}
	}
	return false
}
