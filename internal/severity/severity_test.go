package severity

import "testing"

// The worked examples below are the specifications' own: the CVSS v3.1
// and v3.0 specification documents' example vectors with their published
// base scores, and CVSS v4.0 examples from FIRST's v4.0 calculator
// reference data.
func TestScoreSpecExamples(t *testing.T) {
	tests := []struct {
		vector  string
		score   float64
		version string
	}{
		// CVSS v3.1 specification, section 7.4 / user guide examples.
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "3.1"},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, "3.1"}, // CVE-2013-1937 (XSS)
		{"CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, "3.1"},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, "3.1"}, // CVE-2014-0160 (Heartbleed)
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0, "3.1"},
		// CVSS v3.0 specification examples.
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "3.0"},
		{"CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, "3.0"}, // CVE-2013-0375 class
		// CVSS v4.0 (FIRST calculator).
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "4.0"},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, "4.0"},
		{"CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.5, "4.0"},
	}
	for _, tc := range tests {
		score, version, err := Score(tc.vector)
		if err != nil {
			t.Errorf("%s: %v", tc.vector, err)
			continue
		}
		if score != tc.score || version != tc.version {
			t.Errorf("%s: %.1f (v%s), want %.1f (v%s)", tc.vector, score, version, tc.score, tc.version)
		}
	}
	for _, bad := range []string{"", "AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:2.0/AV:N"} {
		if _, _, err := Score(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestLevels(t *testing.T) {
	for s, want := range map[string]Level{"critical": Critical, "Moderate": Medium, "important": High, "negligible": Low, "": Unknown} {
		got, err := Parse(s)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := Parse("severe"); err == nil {
		t.Error("unknown level accepted")
	}
	for score, want := range map[float64]Level{9.0: Critical, 8.9: High, 7.0: High, 4.0: Medium, 0.1: Low, 0: Unknown} {
		if got := FromScore(score); got != want {
			t.Errorf("FromScore(%v) = %v, want %v", score, got, want)
		}
	}
}

func FuzzScore(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	f.Add("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
	f.Fuzz(func(t *testing.T, v string) {
		s, _, err := Score(v)
		if err == nil && (s < 0 || s > 10) {
			t.Fatalf("score %v out of range", s)
		}
	})
}
