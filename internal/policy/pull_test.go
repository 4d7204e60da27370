package policy

import (
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

func TestParsePullPolicy(t *testing.T) {
	tests := []struct {
		in, err string
	}{
		{``, ""},
		{`{}`, ""},
		{`{"blockSeverity":"none","unscanned":"allow"}`, ""},
		{`{"blockSeverity":"severe"}`, "blockSeverity"},
		{`{"unscanned":"maybe"}`, "unscanned"},
		{`{"requireSignature":true}`, "at least one key"},
		{`{"exceptions":[{"id":"CVE-1"}]}`, "reason"},
		{`{"exceptions":[{"id":"CVE-1","reason":"r","expires":"soon"}]}`, "YYYY-MM-DD"},
		{`{"immutableTags":["["]}`, "bad pattern"},
		{`{"retention":{"keepLast":0}}`, "keepLast"},
		{`{"vex":[{"@context":"nope"}]}`, "vex 0"},
		{`{"blocks":"high"}`, "unknown field"},
		{`{"blockSeverity":`, "pull policy"},
	}
	for _, tc := range tests {
		p, err := ParsePullPolicy([]byte(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
		case err == nil && (p.Unscanned == "" || p.BlockSeverity == ""):
			t.Errorf("%s: defaults not filled: %+v", tc.in, p)
		}
	}
}

func TestPullPolicyVulnerabilities(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	digest := "sha256:" + strings.Repeat("a", 64)
	f := func(id string, sev severity.Level, fixed ...string) match.Finding {
		return match.Finding{ID: id, Severity: sev, Fixed: fixed, Package: sbom.Package{Name: "openssl", Version: "3.0.1", PURL: "pkg:deb/debian/openssl@3.0.1"}}
	}
	findings := []match.Finding{f("CVE-A", severity.Critical, "3.0.2"), f("CVE-B", severity.High), f("CVE-C", severity.Low, "3.0.2"), f("GO-D", severity.Unknown, "3.0.3")}
	vex := `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"x","statements":[{"vulnerability":{"name":"CVE-A"},"products":[{"@id":"` + digest + `"}],"status":"not_affected","justification":"vulnerable_code_not_in_execute_path"}]}`
	tests := []struct {
		name, policy string
		want         []string
	}{
		{"default blocks critical", `{}`, []string{"CVE-A"}},
		{"high", `{"blockSeverity":"high"}`, []string{"CVE-A", "CVE-B", "GO-D"}},
		{"unknown counted as critical", `{"unknownSeverity":"critical"}`, []string{"CVE-A", "GO-D"}},
		{"unknown counted as low", `{"blockSeverity":"high","unknownSeverity":"low"}`, []string{"CVE-A", "CVE-B"}},
		{"unknown ignored", `{"blockSeverity":"low","unknownSeverity":"ignore"}`, []string{"CVE-A", "CVE-B", "CVE-C"}},
		{"none", `{"blockSeverity":"none"}`, nil},
		{"ignore unfixed", `{"blockSeverity":"high","ignoreUnfixed":true}`, []string{"CVE-A", "GO-D"}},
		{"exception", `{"blockSeverity":"high","exceptions":[{"id":"CVE-A","reason":"mitigated"},{"id":"GO-D","reason":"not called"}]}`, []string{"CVE-B"}},
		{"expired exception", `{"blockSeverity":"high","exceptions":[{"id":"CVE-A","reason":"was mitigated","expires":"2026-11-29"}]}`, []string{"CVE-A", "CVE-B", "GO-D"}},
		{"vex not_affected for this image", `{"blockSeverity":"critical","vex":[` + vex + `]}`, nil},
	}
	for _, tc := range tests {
		p, err := ParsePullPolicy([]byte(tc.policy))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, b := range p.Vulnerabilities(findings, digest, now) {
			got = append(got, b.ID)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: blocking %v, want %v", tc.name, got, tc.want)
		}
	}
	def, _ := ParsePullPolicy([]byte(`{"blockSeverity":"high"}`))
	blocking := def.Vulnerabilities(findings, digest, now)
	if d := DescribeBlocking(blocking, 2); !strings.Contains(d, "CVE-A (CRITICAL) in openssl 3.0.1, fixed in 3.0.2") || !strings.Contains(d, "and 1 more") {
		t.Errorf("describe: %s", d)
	}
	if d := DescribeBlocking(blocking, 3); !strings.Contains(d, "GO-D (severity unknown, counted as HIGH)") {
		t.Errorf("describe does not say the severity was unknown: %s", d)
	}
	p, _ := ParsePullPolicy([]byte(`{"immutableTags":["v*","release-?"]}`))
	for tag, want := range map[string]bool{"v1.2": true, "release-1": true, "release-10": false, "latest": false} {
		if p.Immutable(tag) != want {
			t.Errorf("immutable %s: %v", tag, !want)
		}
	}
}
