// Package report renders bulwark's results in the formats other tools
// read: bulwark's own JSON, a human table, CycloneDX 1.6, SPDX 2.3.
package report

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"bulwark.dev/bulwark/internal/sbom"
)

// SBOMFormats lists the formats `bulwark sbom` writes, in help order.
var SBOMFormats = []string{"table", "json", "cyclonedx", "spdx"}

// SBOMOptions tune SBOM rendering.
type SBOMOptions struct {
	// Timestamp stamps the document. Callers pass the image creation time
	// so that the same image always gives the same bytes.
	Timestamp time.Time
}

// WriteSBOM renders doc in format.
func WriteSBOM(w io.Writer, format string, doc *sbom.Document, opts SBOMOptions) error {
	switch format {
	case "json":
		return writeJSON(w, doc)
	case "table":
		return sbomTable(w, doc)
	case "cyclonedx":
		return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false).EncodeVersion(CycloneDX(doc, opts), cdx.SpecVersion1_6)
	case "spdx":
		d, err := SPDX(doc, opts)
		if err != nil {
			return err
		}
		return spdxjson.Write(d, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
	}
	return fmt.Errorf("unknown SBOM format %q (want one of %s)", format, strings.Join(SBOMFormats, ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func sbomTable(w io.Writer, doc *sbom.Document) error {
	src := doc.Source
	fmt.Fprintf(w, "%s (%s)\n", src.Ref, src.Kind)
	if src.Digest != "" {
		fmt.Fprintf(w, "digest:   %s\n", src.Digest)
	}
	if src.ImageID != "" {
		fmt.Fprintf(w, "image ID: %s\n", src.ImageID)
	}
	if o := doc.OS; o != nil {
		name := o.PrettyName
		if name == "" {
			name = o.ID + " " + o.VersionID
		}
		fmt.Fprintf(w, "OS:       %s", name)
		if o.EOL != nil {
			if o.EOLPassed {
				fmt.Fprintf(w, "  (END OF LIFE since %s: no more security fixes; move to a supported release)", o.EOL.Format(time.DateOnly))
			} else {
				fmt.Fprintf(w, "  (supported until %s)", o.EOL.Format(time.DateOnly))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "packages: %d\n\n", len(doc.Packages))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tSOURCE\tLAYER\tLOCATION")
	for _, p := range doc.Packages {
		name := p.Name
		if p.Namespace != "" && p.Type != sbom.TypeAPK && p.Type != sbom.TypeDeb && p.Type != sbom.TypeRPM {
			sep := "/"
			if p.Type == sbom.TypeMaven {
				sep = ":"
			}
			name = p.Namespace + sep + p.Name
		}
		src := ""
		if p.SourceName != "" && (p.SourceName != p.Name || p.SourceVersion != p.Version) {
			src = p.SourceName
			if p.SourceVersion != "" && p.SourceVersion != p.Version {
				src += " " + p.SourceVersion
			}
		}
		layer := ""
		if p.Layer != nil {
			layer = fmt.Sprint(p.Layer.Index)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, p.Version, p.Type, src, layer, p.Locations[0].Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(doc.Status) > 0 {
		fmt.Fprintf(w, "\n%d file(s) could not be cataloged:\n", len(doc.Status))
		for _, s := range doc.Status {
			fmt.Fprintf(w, "  %s: %s: %s\n", s.Cataloger, s.Path, s.Error)
		}
	}
	return nil
}

// uuidFrom derives a stable RFC 4122 version-5 style UUID from parts, so
// documents about the same image get the same serial number.
func uuidFrom(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	h[6] = (h[6] & 0x0f) | 0x50
	h[8] = (h[8] & 0x3f) | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func subjectID(doc *sbom.Document) string {
	for _, s := range []string{doc.Source.Digest, doc.Source.ImageID, doc.Source.Ref} {
		if s != "" {
			return s
		}
	}
	return "unknown"
}

func subjectName(doc *sbom.Document) string {
	if doc.Source.Name != "" {
		return doc.Source.Name
	}
	return doc.Source.Ref
}

// bomRef is a unique, stable reference for a package inside one BOM.
func bomRef(p *sbom.Package) string {
	h := sha256.Sum256([]byte(p.Type + "\x00" + p.Namespace + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.Arch + "\x00" + p.Locations[0].Path))
	return hex.EncodeToString(h[:8])
}

func props(kv ...string) *[]cdx.Property {
	var out []cdx.Property
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, cdx.Property{Name: kv[i], Value: kv[i+1]})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &out
}

// CycloneDX converts an inventory into a CycloneDX 1.6 BOM.
func CycloneDX(doc *sbom.Document, opts SBOMOptions) *cdx.BOM {
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.SerialNumber = "urn:uuid:" + uuidFrom("cyclonedx", subjectID(doc), doc.Tool.Version)
	bom.Version = 1
	src := doc.Source
	subject := &cdx.Component{
		BOMRef:  "subject",
		Type:    cdx.ComponentTypeContainer,
		Name:    subjectName(doc),
		Version: src.Digest,
		Properties: props(
			"bulwark:source:kind", src.Kind,
			"bulwark:source:ref", src.Ref,
			"bulwark:image:tag", src.Tag,
			"bulwark:image:id", src.ImageID,
			"bulwark:image:platform", src.Platform,
		),
	}
	if src.Kind == "dir" {
		subject.Type = cdx.ComponentTypeFile
	}
	if src.Digest == "" {
		subject.Version = src.ImageID
	}
	md := &cdx.Metadata{
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: doc.Tool.Name, Version: doc.Tool.Version,
		}}},
		Component: subject,
	}
	if !opts.Timestamp.IsZero() {
		md.Timestamp = opts.Timestamp.UTC().Format(time.RFC3339)
	}
	bom.Metadata = md
	var comps []cdx.Component
	if o := doc.OS; o != nil {
		c := cdx.Component{BOMRef: "os", Type: cdx.ComponentTypeOS, Name: o.ID, Version: o.VersionID, Description: o.PrettyName}
		var kv []string
		if o.EOL != nil {
			kv = append(kv, "bulwark:os:eol", o.EOL.Format(time.DateOnly), "bulwark:os:eolPassed", fmt.Sprint(o.EOLPassed))
		}
		c.Properties = props(kv...)
		comps = append(comps, c)
	}
	for i := range doc.Packages {
		p := &doc.Packages[i]
		c := cdx.Component{
			BOMRef:     bomRef(p),
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
		}
		if p.Type == sbom.TypeMaven || p.Type == sbom.TypeNPM {
			c.Group = p.Namespace
		}
		if p.Main {
			c.Type = cdx.ComponentTypeApplication
		}
		if len(p.Licenses) > 0 {
			var ls cdx.Licenses
			for _, l := range p.Licenses {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: l}})
			}
			c.Licenses = &ls
		}
		kv := []string{
			"bulwark:package:type", p.Type,
			"bulwark:package:cataloger", p.Cataloger,
			"bulwark:package:sourceName", p.SourceName,
			"bulwark:package:sourceVersion", p.SourceVersion,
			"bulwark:package:arch", p.Arch,
			"bulwark:package:replace", p.Replace,
		}
		if p.Layer != nil {
			kv = append(kv, "bulwark:layer:index", fmt.Sprint(p.Layer.Index), "bulwark:layer:diffID", p.Layer.DiffID)
		}
		c.Properties = props(kv...)
		var occ []cdx.EvidenceOccurrence
		for _, l := range p.Locations {
			occ = append(occ, cdx.EvidenceOccurrence{Location: l.Path})
		}
		c.Evidence = &cdx.Evidence{Occurrences: &occ}
		comps = append(comps, c)
	}
	bom.Components = &comps
	var deps []string
	for _, c := range comps {
		deps = append(deps, c.BOMRef)
	}
	bom.Dependencies = &[]cdx.Dependency{{Ref: "subject", Dependencies: &deps}}
	return bom
}

var spdxIDChars = regexp.MustCompile(`[^a-zA-Z0-9.\-]+`)

// spdxLicense returns a declared-license value that is a plausible SPDX
// expression, or NOASSERTION: free text does not belong in that field.
var spdxExpr = regexp.MustCompile(`^[A-Za-z0-9.\-+]+( (AND|OR|WITH) [A-Za-z0-9.\-+]+)*$`)

func spdxLicense(ls []string) string {
	if len(ls) == 0 {
		return "NOASSERTION"
	}
	for _, l := range ls {
		if !spdxExpr.MatchString(l) {
			return "NOASSERTION"
		}
	}
	if len(ls) == 1 {
		return ls[0]
	}
	return "(" + strings.Join(ls, ") AND (") + ")"
}

// SPDX converts an inventory into an SPDX 2.3 document.
func SPDX(doc *sbom.Document, opts SBOMOptions) (*spdx.Document, error) {
	ts := opts.Timestamp
	if ts.IsZero() {
		ts = time.Unix(0, 0)
	}
	name := subjectName(doc)
	d := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: "https://bulwark.dev/spdx/" + spdxIDChars.ReplaceAllString(name, "-") + "-" + uuidFrom("spdx", subjectID(doc), doc.Tool.Version),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{Creator: doc.Tool.Name + "-" + doc.Tool.Version, CreatorType: "Tool"}},
			Created:  ts.UTC().Format(time.RFC3339),
		},
	}
	root := &spdx.Package{
		PackageName:             name,
		PackageSPDXIdentifier:   "Subject",
		PackageVersion:          doc.Source.Digest,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageComment:          fmt.Sprintf("source: %s (%s)", doc.Source.Ref, doc.Source.Kind),
	}
	if doc.Source.Kind == "dir" {
		root.PrimaryPackagePurpose = "FILE"
	}
	if dg, ok := strings.CutPrefix(doc.Source.Digest, "sha256:"); ok {
		root.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: dg}}
	}
	d.Packages = append(d.Packages, root)
	d.Relationships = append(d.Relationships, &spdx.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Subject"), Relationship: "DESCRIBES",
	})
	if o := doc.OS; o != nil {
		osp := &spdx.Package{
			PackageName:             o.ID,
			PackageSPDXIdentifier:   "OperatingSystem",
			PackageVersion:          o.VersionID,
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "OPERATING_SYSTEM",
			PackageDescription:      o.PrettyName,
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "NOASSERTION",
			PackageCopyrightText:    "NOASSERTION",
		}
		if o.EOL != nil {
			osp.ValidUntilDate = o.EOL.UTC().Format(time.RFC3339)
		}
		d.Packages = append(d.Packages, osp)
		d.Relationships = append(d.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "Subject"), RefB: common.MakeDocElementID("", "OperatingSystem"), Relationship: "CONTAINS",
		})
	}
	seen := map[string]bool{}
	for i := range doc.Packages {
		p := &doc.Packages[i]
		id := common.ElementID(spdxIDChars.ReplaceAllString("Package-"+p.Type+"-"+p.Name, "-") + "-" + bomRef(p))
		if seen[string(id)] {
			return nil, fmt.Errorf("duplicate SPDX identifier %s", id)
		}
		seen[string(id)] = true
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "LIBRARY",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  spdxLicense(p.Licenses),
			PackageCopyrightText:    "NOASSERTION",
		}
		if p.Main {
			sp.PrimaryPackagePurpose = "APPLICATION"
		}
		if p.SourceName != "" {
			sp.PackageSourceInfo = "source package: " + p.SourceName
			if p.SourceVersion != "" {
				sp.PackageSourceInfo += " " + p.SourceVersion
			}
		}
		var locs []string
		for _, l := range p.Locations {
			locs = append(locs, l.Path)
		}
		sort.Strings(locs)
		sp.PackageComment = "found by " + p.Cataloger + " in " + strings.Join(locs, ", ")
		if p.Layer != nil {
			sp.PackageComment += fmt.Sprintf("; introduced by layer %d (%s)", p.Layer.Index, p.Layer.DiffID)
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: p.PURL}}
		}
		d.Packages = append(d.Packages, sp)
		d.Relationships = append(d.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "Subject"), RefB: common.MakeDocElementID("", string(id)), Relationship: "CONTAINS",
		})
	}
	return d, nil
}
