package dockerbench

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the embedded catalogue and golden files")

// corpusDir is where the shared corpus is; CI always sets BULWARK_CORPUS.
func corpusDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("BULWARK_CORPUS")
	if d == "" {
		t.Skip("BULWARK_CORPUS is not set (CI sets it)")
	}
	return d
}

// TestCatalogMatchesCorpus: every check docker-bench-security has, with
// its wording, is in the embedded catalogue, in the same order.
func TestCatalogMatchesCorpus(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(corpusDir(t), "cis/docker-bench-security/checks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var corpus struct {
		Source string `json:"source"`
		Checks []struct {
			ID          string  `json:"id"`
			Desc        string  `json:"desc"`
			Remediation *string `json:"remediation"`
			Impact      *string `json:"remediation_impact"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b, &corpus); err != nil {
		t.Fatal(err)
	}
	want := Catalog{Source: corpus.Source}
	for _, c := range corpus.Checks {
		e := Entry{ID: c.ID, Desc: c.Desc, Section: sectionOf(c.ID)}
		if c.Remediation != nil {
			e.Remediation = *c.Remediation
		}
		if c.Impact != nil {
			e.Impact = *c.Impact
		}
		want.Entries = append(want.Entries, e)
	}
	if *update {
		out, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile("catalog.json", append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 145 {
		t.Errorf("catalogue has %d entries, docker-bench-security has 145", len(got.Entries))
	}
	if d := cmp.Diff(want.Entries, got.Entries); d != "" {
		t.Errorf("embedded catalogue differs from the corpus (-corpus +embedded); run go test -run TestCatalog -update:\n%s", d)
	}
	if !strings.HasPrefix(got.Source, "docker/docker-bench-security@") {
		t.Errorf("source = %q", got.Source)
	}
}

func TestParseCatalogErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"duplicate", `{"checks":[{"id":"1","desc":"a","section":"1"},{"id":"1","desc":"b","section":"1"}]}`, "check 1 listed twice"},
		{"unknown key", `{"checks":[],"extra":1}`, "unknown field"},
		{"no desc", `{"checks":[{"id":"1"}]}`, "no id or description"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCatalog([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
