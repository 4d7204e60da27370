package sla

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/severity"
)

// TestJSONMatchesEncodingJSON: the hand-written report is byte for byte
// what encoding/json writes, for clocks in every state and strings with
// everything JSON escapes (quotes, control characters, HTML, invalid
// UTF-8, U+2028), and for an empty report.
func TestJSONMatchesEncodingJSON(t *testing.T) {
	high := Finding{Digest: "sha256:d1", Advisory: "CVE-2026-0001", Package: "openssl@3.0.1", Severity: severity.High, Fixed: "3.0.2", FirstSeen: h(0), FixSeen: h(0)}
	odd := Finding{Digest: "sha256:d2", Advisory: "GHSA-\"<x>\"&\\", Package: "p\x00\x01\b\f\n\r\t\x7f\xffé\u2028\u2029😀@1", Severity: severity.Critical, FirstSeen: h(1)}
	tags := []TagPeriod{
		{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0), Until: h(50)},
		{Repo: "shop/app", Tag: "v1", Digest: "sha256:d9", Since: h(50)},
		{Repo: "shop/app", Workload: "prod ns/pod/app", Digest: "sha256:d1", Since: h(0)},
		{Repo: "dev/tool", Tag: "edge", Digest: "sha256:d2", Since: h(0)},
		{Repo: "dev/old", Tag: "1", Digest: "sha256:d1", Since: h(0), Until: h(5)},
	}
	local := time.FixedZone("CET", 3600)
	for name, r := range map[string]Report{
		"clocks": NewReport(h(100).In(local), Compute(h(100), DefaultPolicy(), []Finding{high, odd}, tags)),
		"empty":  NewReport(h(100), nil),
	} {
		var got bytes.Buffer
		if err := r.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if r.Clocks == nil {
			r.Clocks = []Clock{}
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: hand-written JSON differs from encoding/json's:\n got: %s\nwant: %s", name, got.String(), want.String())
		}
	}
}

// TestHTML: the page lists the running clocks (every one with all) with
// what still carries them, escapes what the history holds, and loads
// nothing from elsewhere.
func TestHTML(t *testing.T) {
	high := Finding{Digest: "sha256:d1", Advisory: "CVE-2026-0001", Package: "openssl@3.0.1", Severity: severity.High, Fixed: "3.0.2", FirstSeen: h(0), FixSeen: h(0)}
	evil := Finding{Digest: "sha256:d2", Advisory: "<script>alert(1)</script>", Package: "p@1", Severity: severity.High, Fixed: "2", FirstSeen: h(0), FixSeen: h(0)}
	tags := []TagPeriod{
		{Repo: "shop/app", Tag: "v1", Digest: "sha256:d1", Since: h(0)},
		{Repo: "shop/app", Workload: "prod ns/pod/app", Digest: "sha256:d1", Since: h(0)},
		{Repo: "dev/old", Tag: "1", Digest: "sha256:d2", Since: h(0), Until: h(5)},
	}
	r := NewReport(h(100), Compute(h(100), DefaultPolicy(), []Finding{high, evil}, tags))
	for _, all := range []bool{false, true} {
		var b bytes.Buffer
		if err := r.WriteHTML(&b, all); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		for want, present := range map[string]bool{
			`<td class="state breached">breached</td><td>shop/app</td>`: true,
			`<code>prod ns/pod/app</code>`:                              true,
			"dev/old":                                                   all,
			"<script":                                                   false,
			"http://":                                                   false,
			"https://":                                                  false,
		} {
			if strings.Contains(page, want) != present {
				t.Errorf("all=%v: %q present = %v", all, want, !present)
			}
		}
	}
}
