package inventory

import (
	"strconv"

	"github.com/package-url/packageurl-go"

	"bulwark.dev/bulwark/internal/sbom"
)

// PURL builds the package URL of a package following the package-url
// spec: OS packages carry the distribution as namespace and the arch,
// epoch, distro and upstream (source package) qualifiers.
func PURL(p *sbom.Package, o *sbom.OS) string {
	var q packageurl.Qualifiers
	add := func(k, v string) {
		if v != "" {
			q = append(q, packageurl.Qualifier{Key: k, Value: v})
		}
	}
	distro := ""
	ns := p.Namespace
	if o != nil {
		distro = o.ID
		if o.VersionID != "" {
			distro += "-" + o.VersionID
		}
	}
	typ, name, version := p.Type, p.Name, p.Version
	switch p.Type {
	case sbom.TypeAPK, sbom.TypeDeb, sbom.TypeRPM, "opkg":
		if ns == "" && o != nil {
			ns = o.ID
		}
		add("arch", p.Arch)
		if p.Epoch != nil && *p.Epoch != 0 {
			add("epoch", strconv.Itoa(*p.Epoch))
		}
		add("distro", distro)
		if p.SourceName != "" && p.SourceName != p.Name {
			up := p.SourceName
			if p.Type == sbom.TypeRPM {
				up = p.SourceName + "-" + p.SourceVersion + ".src.rpm"
			} else if p.SourceVersion != "" && p.SourceVersion != p.Version {
				up += "@" + p.SourceVersion
			}
			add("upstream", up)
		}
	case sbom.TypeGo:
		ns, name = splitGoPath(p.Name)
	case sbom.TypePyPI:
		name = sbom.NormalizePyPIName(p.Name)
	case sbom.TypeBinary:
		return ""
	}
	return packageurl.NewPackageURL(typ, ns, name, version, q, "").ToString()
}

// splitGoPath splits a module path into PURL namespace and name.
func splitGoPath(path string) (ns, name string) {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i], path[i+1:]
		}
	}
	return "", path
}
