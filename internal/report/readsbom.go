package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"

	"bulwark.dev/bulwark/internal/sbom"
)

// ReadSBOM reads an SBOM that bulwark or another tool wrote: CycloneDX
// JSON, SPDX 2.x JSON or bulwark's own JSON. Packages come from their
// PURLs (with the distro, arch, epoch and upstream qualifiers); the OS
// from the operating-system component or package, else from the distro
// qualifier. name is used in errors and as the source reference.
func ReadSBOM(b []byte, name string) (*sbom.Document, error) {
	var probe struct {
		BOMFormat     string          `json:"bomFormat"`
		SPDXVersion   string          `json:"spdxVersion"`
		SchemaVersion string          `json:"schemaVersion"`
		Packages      json.RawMessage `json:"packages"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("SBOM %s: not JSON: %w", name, err)
	}
	var doc *sbom.Document
	var err error
	switch {
	case probe.BOMFormat == "CycloneDX":
		doc, err = readCycloneDX(b)
	case probe.SPDXVersion != "":
		doc, err = readSPDX(b)
	case probe.SchemaVersion != "" && probe.Packages != nil:
		doc = &sbom.Document{}
		err = json.Unmarshal(b, doc)
	default:
		err = errors.New("neither CycloneDX, SPDX nor bulwark JSON")
	}
	if err != nil {
		return nil, fmt.Errorf("SBOM %s: %w", name, err)
	}
	if doc.OS == nil {
		doc.OS = osFromDistro(doc.Packages)
	}
	if doc.Source.Ref == "" {
		doc.Source.Ref = name
	}
	for i := range doc.Packages {
		if len(doc.Packages[i].Locations) == 0 {
			doc.Packages[i].Locations = []sbom.Location{{Path: name}}
		}
	}
	return doc, nil
}

func readCycloneDX(b []byte) (*sbom.Document, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, err
	}
	doc := &sbom.Document{Source: sbom.Source{Kind: "cyclonedx"}}
	if md := bom.Metadata; md != nil && md.Component != nil {
		doc.Source.Name = md.Component.Name
		if strings.HasPrefix(md.Component.Version, "sha256:") {
			doc.Source.Digest = md.Component.Version
		}
	}
	var walk func([]cdx.Component) error
	walk = func(cs []cdx.Component) error {
		for _, c := range cs {
			if c.Type == cdx.ComponentTypeOS && doc.OS == nil {
				doc.OS = &sbom.OS{ID: strings.ToLower(c.Name), VersionID: c.Version, PrettyName: c.Description}
			}
			if c.PackageURL != "" {
				p, err := PackageFromPURL(c.PackageURL)
				if err != nil {
					return fmt.Errorf("component %q: %w", c.Name, err)
				}
				if c.Properties != nil {
					for _, pr := range *c.Properties {
						applyProperty(&p, pr.Name, pr.Value)
					}
				}
				if c.Evidence != nil && c.Evidence.Occurrences != nil {
					for _, o := range *c.Evidence.Occurrences {
						p.Locations = append(p.Locations, sbom.Location{Path: o.Location})
					}
				}
				doc.Packages = append(doc.Packages, p)
			}
			if c.Components != nil {
				if err := walk(*c.Components); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if bom.Components != nil {
		if err := walk(*bom.Components); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// applyProperty reads back the bulwark:* properties bulwark writes.
func applyProperty(p *sbom.Package, k, v string) {
	switch k {
	case "bulwark:package:sourceName":
		p.SourceName = v
	case "bulwark:package:sourceVersion":
		p.SourceVersion = v
	case "bulwark:layer:diffID":
		if p.Layer == nil {
			p.Layer = &sbom.LayerRef{}
		}
		p.Layer.DiffID = v
	case "bulwark:layer:index":
		if p.Layer == nil {
			p.Layer = &sbom.LayerRef{}
		}
		p.Layer.Index, _ = strconv.Atoi(v)
	}
}

func readSPDX(b []byte) (*sbom.Document, error) {
	d, err := spdxjson.Read(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	doc := &sbom.Document{Source: sbom.Source{Kind: "spdx", Name: d.DocumentName}}
	for _, sp := range d.Packages {
		if sp == nil {
			continue // older SPDX versions convert to empty entries
		}
		if sp.PrimaryPackagePurpose == "OPERATING-SYSTEM" || sp.PrimaryPackagePurpose == "OPERATING_SYSTEM" {
			doc.OS = &sbom.OS{ID: strings.ToLower(sp.PackageName), VersionID: sp.PackageVersion, PrettyName: sp.PackageDescription}
			continue
		}
		for _, ref := range sp.PackageExternalReferences {
			if ref == nil || ref.RefType != "purl" {
				continue
			}
			p, err := PackageFromPURL(ref.Locator)
			if err != nil {
				return nil, fmt.Errorf("package %q: %w", sp.PackageName, err)
			}
			doc.Packages = append(doc.Packages, p)
			break
		}
	}
	return doc, nil
}

// PackageFromPURL rebuilds a package from its package URL.
func PackageFromPURL(s string) (sbom.Package, error) {
	u, err := packageurl.FromString(s)
	if err != nil {
		return sbom.Package{}, fmt.Errorf("purl %q: %w", s, err)
	}
	q := u.Qualifiers.Map()
	p := sbom.Package{Type: u.Type, Name: u.Name, Version: u.Version, PURL: s, Arch: q["arch"], Cataloger: "sbom"}
	switch u.Type {
	case sbom.TypeGo:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
	case sbom.TypeNPM, sbom.TypeMaven:
		p.Namespace = u.Namespace
	case sbom.TypeDeb, sbom.TypeAPK, sbom.TypeRPM, "opkg":
		p.Namespace = u.Namespace
		if e := q["epoch"]; e != "" {
			if n, err := strconv.Atoi(e); err == nil {
				p.Epoch = &n
			}
		}
		p.SourceName, p.SourceVersion = p.Name, p.Version
		if up := q["upstream"]; up != "" {
			if u.Type == sbom.TypeRPM {
				p.SourceName, p.SourceVersion = sbom.SplitSourceRPM(up)
			} else if n, v, ok := strings.Cut(up, "@"); ok {
				p.SourceName, p.SourceVersion = n, v
			} else {
				p.SourceName = up
			}
		}
	}
	return p, nil
}

// osFromDistro derives the OS from the first distro qualifier
// ("debian-12", "alpine-3.18.4").
func osFromDistro(pkgs []sbom.Package) *sbom.OS {
	for _, p := range pkgs {
		u, err := packageurl.FromString(p.PURL)
		if err != nil {
			continue
		}
		d := u.Qualifiers.Map()["distro"]
		if id, ver, ok := strings.Cut(d, "-"); ok && id != "" {
			return &sbom.OS{ID: id, VersionID: ver}
		}
	}
	return nil
}
