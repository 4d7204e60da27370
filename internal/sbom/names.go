package sbom

import (
	"regexp"
	"strings"
)

var pypiSeparators = regexp.MustCompile(`[-_.]+`)

// NormalizePyPIName normalizes a Python distribution name as PEP 503
// does; PURLs and advisory lookups both use this form.
func NormalizePyPIName(name string) string {
	return pypiSeparators.ReplaceAllString(strings.ToLower(name), "-")
}

// SplitSourceRPM splits "util-linux-2.32.1-42.el8_8.src.rpm" into the
// source name and its version-release.
func SplitSourceRPM(s string) (name, version string) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".rpm"), ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	r := strings.LastIndexByte(s, '-')
	if r <= 0 {
		return s, ""
	}
	v := strings.LastIndexByte(s[:r], '-')
	if v <= 0 {
		return s, ""
	}
	return s[:v], s[v+1:]
}
