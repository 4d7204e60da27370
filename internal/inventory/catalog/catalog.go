// Package catalog is the one place that lists bulwark's catalogers. There
// is no self-registration: a cataloger that is not listed here does not
// run.
package catalog

import (
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/inventory/apk"
	"bulwark.dev/bulwark/internal/inventory/dpkg"
	"bulwark.dev/bulwark/internal/inventory/gobinary"
	"bulwark.dev/bulwark/internal/inventory/java"
	"bulwark.dev/bulwark/internal/inventory/npm"
	"bulwark.dev/bulwark/internal/inventory/python"
	"bulwark.dev/bulwark/internal/inventory/rpm"
)

// All returns every cataloger, in the order their results are listed.
func All() []inventory.Extractor {
	return []inventory.Extractor{
		apk.Extractor{},
		dpkg.Extractor{},
		dpkg.OpkgExtractor{},
		rpm.Extractor{},
		gobinary.Extractor{},
		npm.Extractor{},
		python.Extractor{},
		java.Extractor{},
	}
}
