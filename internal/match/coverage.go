package match

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"bulwark.dev/bulwark/internal/sbom"
)

// Coverage statuses: what a scan's silence about an ecosystem means.
const (
	// Covered: the database holds advisories for the ecosystem.
	Covered = "covered"
	// NoAdvisories: it holds none, so nothing there can be found.
	NoAdvisories = "no-advisories"
	// Unmatched: bulwark inventories these packages but does not match
	// them against advisories.
	Unmatched = "unmatched"
)

// Coverage says, for one ecosystem of an inventory, whether the database
// could judge its packages. Without it, "no findings" for an OS the
// database does not know looks the same as a clean image.
type Coverage struct {
	// Ecosystem is the advisory ecosystem ("Alpine:v3.10", "Go"), or the
	// package type ("rpm") for unmatched packages.
	Ecosystem string `json:"ecosystem"`
	// OS is true for the image's operating system packages.
	OS       bool   `json:"os,omitempty"`
	Packages int    `json:"packages"`
	Status   string `json:"status"`
	// Message says what it means and what to do, for the ones that are
	// not covered.
	Message string `json:"message,omitempty"`
}

// EcosystemSource answers whether a database holds advisories for an
// ecosystem; *vulndb.DB implements it.
type EcosystemSource interface {
	HasEcosystem(ctx context.Context, ecosystem string) (bool, error)
}

// Cover reports the coverage of every ecosystem in doc, OS first.
func Cover(ctx context.Context, src EcosystemSource, doc *sbom.Document) ([]Coverage, error) {
	byEco := map[string]*Coverage{}
	var order []string
	add := func(key string, os bool) *Coverage {
		c, ok := byEco[key]
		if !ok {
			c = &Coverage{Ecosystem: key, OS: os}
			byEco[key] = c
			order = append(order, key)
		}
		c.Packages++
		return c
	}
	unmatched := map[string]*Coverage{}
	for i := range doc.Packages {
		p := &doc.Packages[i]
		if t, ok := TargetOf(p, doc.OS); ok {
			add(t.Ecosystem, isOSPackage(p.Type))
			continue
		}
		if p.Type == sbom.TypeGo || p.Type == sbom.TypeBinary || p.Main {
			continue // a (devel) build or the image's own program: no advisories exist
		}
		c := add("unmatched:"+p.Type, isOSPackage(p.Type))
		unmatched[c.Ecosystem] = c
	}
	out := make([]Coverage, 0, len(order))
	for _, k := range order {
		c := byEco[k]
		if u, ok := unmatched[k]; ok {
			u.Ecosystem, u.Status = strings.TrimPrefix(k, "unmatched:"), Unmatched
			u.Message = unmatchedMessage(u, doc.OS)
			out = append(out, *u)
			continue
		}
		has, err := src.HasEcosystem(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("database coverage of %s: %w", k, err)
		}
		c.Status = Covered
		if !has {
			c.Status = NoAdvisories
			c.Message = fmt.Sprintf("no advisories for %s in the database (%d packages): nothing there can be found; run bulwark db update, or bulwark db import the %s advisories", ecosystemName(c, doc.OS), c.Packages, k)
		}
		out = append(out, *c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].OS && !out[j].OS })
	return out, nil
}

func isOSPackage(typ string) bool {
	return typ == sbom.TypeAPK || typ == sbom.TypeDeb || typ == sbom.TypeRPM || typ == "opkg"
}

// ecosystemName is how a user names it: "alpine 3.10", "Go packages".
func ecosystemName(c *Coverage, o *sbom.OS) string {
	if c.OS && o != nil {
		return strings.TrimSpace(o.ID + " " + o.VersionID)
	}
	return c.Ecosystem + " packages"
}

func unmatchedMessage(c *Coverage, o *sbom.OS) string {
	osName := "no OS release file was found"
	if o != nil {
		osName = strings.TrimSpace(o.ID + " " + o.VersionID)
	}
	switch c.Ecosystem {
	case sbom.TypeAPK, sbom.TypeDeb:
		return fmt.Sprintf("%d %s packages are inventoried but not matched: the OS (%s) is not one bulwark matches %s packages for", c.Packages, c.Ecosystem, osName, c.Ecosystem)
	case sbom.TypeRPM:
		return fmt.Sprintf("%d rpm packages are inventoried but not matched (%s): bulwark has no RPM advisory matching yet, so their vulnerabilities are not reported", c.Packages, osName)
	case sbom.TypeMaven:
		return fmt.Sprintf("%d maven packages are inventoried but not matched: they carry no group ID", c.Packages)
	}
	return fmt.Sprintf("%d %s packages are inventoried but not matched: bulwark has no advisories for them", c.Packages, c.Ecosystem)
}
