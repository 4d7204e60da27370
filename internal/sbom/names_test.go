package sbom

import "testing"

func TestSplitSourceRPM(t *testing.T) {
	for in, want := range map[string][2]string{
		"util-linux-2.32.1-42.el8_8.src.rpm": {"util-linux", "2.32.1-42.el8_8"},
		"hello-0.0.1-rls.src.rpm":            {"hello", "0.0.1-rls"},
		"noversion":                          {"noversion", ""},
	} {
		n, v := SplitSourceRPM(in)
		if n != want[0] || v != want[1] {
			t.Errorf("SplitSourceRPM(%q) = %q, %q; want %q", in, n, v, want)
		}
	}
}
