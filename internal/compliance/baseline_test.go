package compliance

import (
	"encoding/json"
	"flag"
	"os"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite generated and golden files")

// TestBaselinesMatchCorpus: the embedded baselines and titles are NIST's,
// as the corpus's OSCAL profiles and resolved catalog have them.
func TestBaselinesMatchCorpus(t *testing.T) {
	read := func(name string, v any) {
		b, err := os.ReadFile(testenv.CorpusPath(t, "compliance/oscal", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	var profile struct {
		Profile struct {
			Imports []struct {
				IncludeControls []struct {
					WithIDs []string `json:"with-ids"`
				} `json:"include-controls"`
			} `json:"imports"`
		} `json:"profile"`
	}
	ids := func(file string) []string {
		read(file, &profile)
		var out []string
		for _, imp := range profile.Profile.Imports {
			for _, ic := range imp.IncludeControls {
				for _, id := range ic.WithIDs {
					out = append(out, oscalID(id))
				}
			}
		}
		sort.Slice(out, func(i, j int) bool { return controlLess(out[i], out[j]) })
		return out
	}
	want := baselines{Source: "NIST SP 800-53 rev5 OSCAL profiles (MODERATE, HIGH) and the MODERATE resolved catalog", Titles: map[string]string{}}
	want.Moderate = ids("NIST_SP-800-53_rev5_MODERATE-baseline_profile.json")
	want.High = ids("NIST_SP-800-53_rev5_HIGH-baseline_profile.json")
	type ctl struct {
		ID       string `json:"id"`
		Title    string `json:"title"`
		Controls []ctl  `json:"controls"`
	}
	var cat struct {
		Catalog struct {
			Groups []struct {
				Controls []ctl `json:"controls"`
			} `json:"groups"`
		} `json:"catalog"`
	}
	read("NIST_SP-800-53_rev5_MODERATE-baseline-resolved-profile_catalog-min.json", &cat)
	var walk func([]ctl)
	walk = func(cs []ctl) {
		for _, c := range cs {
			want.Titles[oscalID(c.ID)] = c.Title
			walk(c.Controls)
		}
	}
	for _, g := range cat.Catalog.Groups {
		walk(g.Controls)
	}
	if *update {
		b, _ := json.MarshalIndent(want, "", " ")
		os.WriteFile("nist-800-53-baselines.json", append(b, '\n'), 0o644)
	}
	var got baselines
	if err := json.Unmarshal(nistBaselines, &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("embedded baselines differ from the corpus (-corpus +embedded); go test -run TestBaselines -update:\n%s", d)
	}
	if len(got.Moderate) != 287 || len(got.High) != 370 {
		t.Errorf("moderate %d, high %d controls", len(got.Moderate), len(got.High))
	}
}
