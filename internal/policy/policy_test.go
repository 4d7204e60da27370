package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

func finding(id string, aliases []string, name, purl string, sev severity.Level, fixed ...string) match.Finding {
	return match.Finding{ID: id, Aliases: aliases, Severity: sev, Fixed: fixed, Name: name,
		Package: sbom.Package{Name: name, PURL: purl, Locations: []sbom.Location{{Path: "x"}}}}
}

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestIgnoreFile(t *testing.T) {
	f, err := ParseIgnoreFile([]byte(`
ignores:
  - id: CVE-1
    reason: not reachable from our code
    expires: 2027-01-31
  - id: GHSA-2
    package: pkg:npm/lodash
    reason: only in the build stage
  - id: CVE-3
    package: openssl
    reason: accepted until the base image moves
    expires: 2026-11-01
`))
	if err != nil {
		t.Fatal(err)
	}
	fs := []match.Finding{
		finding("GO-1", []string{"CVE-1"}, "m", "pkg:golang/m@v1", severity.High, "1.2"),
		finding("GHSA-2", nil, "lodash", "pkg:npm/lodash@4.17.20", severity.Critical, "4.17.21"),
		finding("GHSA-2", nil, "other", "pkg:npm/other@1.0.0", severity.Critical, "2"),
		finding("CVE-3", nil, "openssl", "pkg:apk/alpine/openssl@3.1.0-r0", severity.High),
	}
	v := (&Gate{Ignore: f, Now: now}).Apply(fs)
	var got []string
	for _, r := range v.Results {
		s := r.ID + "/" + r.Package.Name
		if r.Suppressed != nil {
			s += " ignored: " + r.Suppressed.Reason
		}
		got = append(got, s)
	}
	want := []string{
		"GO-1/m ignored: not reachable from our code",
		"GHSA-2/lodash ignored: only in the build stage",
		"GHSA-2/other",
		"CVE-3/openssl", // the entry expired on 2026-11-01
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if v.Failing != 2 || len(v.Expired) != 1 || v.Expired[0].ID != "CVE-3" {
		t.Errorf("failing %d, expired %+v", v.Failing, v.Expired)
	}
}

func TestIgnoreFileErrors(t *testing.T) {
	for in, msg := range map[string]string{
		"ignores:\n  - id: CVE-1\n":                                   "no reason",
		"ignores:\n  - reason: x\n":                                   "no id",
		"ignores:\n  - id: CVE-1\n    reason: x\n    expires: soon\n": "not a date",
		"ignores:\n  - id: CVE-1\n    reason: x\n    until: 2027\n":   "unknown field",
		"ignore:\n  - id: CVE-1\n":                                    "unknown field",
		"ignores: [":                                                  "yaml",
	} {
		if _, err := ParseIgnoreFile([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

func TestVEX(t *testing.T) {
	doc := `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/1",
  "statements": [
    {"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:oci/app@sha256%3Aabc", "subcomponents": [{"@id": "pkg:golang/m"}]}],
     "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
    {"vulnerability": "CVE-2", "products": ["pkg:npm/lodash@4.17.20"], "status": "not_affected", "impact_statement": "template() is never called"},
    {"vulnerability": "CVE-2", "products": ["pkg:npm/lodash@4.17.20"], "status": "affected"},
    {"vulnerability": {"name": "CVE-3"}, "products": ["pkg:npm/x"], "status": "under_investigation"}
  ]
}`
	v, err := ParseVEX([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	fs := []match.Finding{
		finding("GO-1", []string{"CVE-1"}, "m", "pkg:golang/m@v1.0.0", severity.High),
		finding("CVE-2", nil, "lodash", "pkg:npm/lodash@4.17.20", severity.High),
		finding("CVE-3", nil, "x", "pkg:npm/x@1", severity.Low),
	}
	res := (&Gate{VEX: []*VEX{v}, Now: now}).Apply(fs)
	if s := res.Results[0].Suppressed; s == nil || s.Kind != "vex" || s.Reason != "vulnerable_code_not_in_execute_path" {
		t.Errorf("CVE-1: %+v", s)
	}
	if res.Results[1].Suppressed != nil {
		t.Errorf("CVE-2: the later affected statement must win: %+v", res.Results[1].Suppressed)
	}
	if res.Results[2].Suppressed != nil || res.Failing != 2 {
		t.Errorf("under_investigation suppresses nothing; failing %d", res.Failing)
	}
	for in, msg := range map[string]string{
		`{"@context":"https://example.com"}`: "not OpenVEX",
		`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":"CVE-1","status":"not_affected"}]}`: "justification",
		`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":"CVE-1","status":"maybe"}]}`:        "status",
	} {
		if _, err := ParseVEX([]byte(in)); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v", in, err)
		}
	}
}

func TestSeverityAndUnfixed(t *testing.T) {
	fs := []match.Finding{
		finding("A", nil, "a", "", severity.Critical, "1"),
		finding("B", nil, "b", "", severity.High),
		finding("C", nil, "c", "", severity.Low, "1"),
	}
	v := (&Gate{Severities: severity.AtOrAbove(severity.High), IgnoreUnfixed: true, Now: now}).Apply(fs)
	if len(v.Results) != 1 || v.Results[0].ID != "A" || v.Failing != 1 {
		t.Errorf("%+v", v)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ignores:\n  - id: CVE-1\n    reason: r\n    package: pkg:npm/x\n"))
	f.Add([]byte(`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:npm/x"}],"status":"fixed"}]}`))
	f.Add([]byte("# why\nCVE-2018-14618 exp:2026-01-01\n"))
	f.Add([]byte("vulnerabilities:\n  - id: CVE-1\n    purls: [pkg:npm/x]\n    expired_at: 2026-01-01\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseIgnoreFile(b)
		ParseVEX(b)
	})
}

// TestTrivyIgnoreFiles reads Trivy's two ignore formats beside bulwark's
// own: a plain .trivyignore (IDs, comments as reasons, exp: dates) and a
// .trivyignore.yaml (statement, expired_at, purls).
func TestTrivyIgnoreFiles(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	plain := "# Accept the risk: not reachable from the network\nCVE-2018-14618\n\n# waiting for the vendor's fix\nCVE-2019-14697 exp:2026-11-01\nGHSA-h5c8-rqwp-cp95 exp:2027-01-01\nAVD-DS-0002\n"
	f, err := ParseIgnoreFile([]byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ ID, Reason, Expires string }
	var got []row
	for _, e := range f.Entries {
		got = append(got, row{e.ID, e.Reason, e.Expires})
	}
	want := []row{
		{"CVE-2018-14618", "Accept the risk: not reachable from the network", ""},
		{"CVE-2019-14697", "waiting for the vendor's fix", "2026-11-01"},
		{"GHSA-h5c8-rqwp-cp95", "listed in .trivyignore", "2027-01-01"},
		{"AVD-DS-0002", "listed in .trivyignore", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if !f.Entries[1].Expired(now) || f.Entries[2].Expired(now) {
		t.Error("exp: dates not applied")
	}
	y := "vulnerabilities:\n  - id: CVE-2022-40897\n    purls: [\"pkg:pypi/setuptools\"]\n    statement: only used at build time\n    expired_at: 2027-09-01\n  - id: CVE-2023-1\nmisconfigurations:\n  - id: AVD-DS-0001\n"
	fy, err := ParseIgnoreFile([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(fy.Entries) != 3 || fy.Entries[0].Package != "pkg:pypi/setuptools" || fy.Entries[0].Reason != "only used at build time" || fy.Entries[0].Expires != "2027-09-01" {
		t.Errorf(".trivyignore.yaml: %+v", fy.Entries)
	}
	// bulwark's own format still wins, and junk is still an error.
	if _, err := ParseIgnoreFile([]byte("ignores:\n- id: CVE-1\n  reason: r\n")); err != nil {
		t.Error(err)
	}
	if _, err := ParseIgnoreFile([]byte("{not: [valid")); err == nil {
		t.Error("malformed content accepted")
	}
}
