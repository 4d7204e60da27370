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
