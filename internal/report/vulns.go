package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/severity"
)

// ScanFormats lists the formats `bulwark scan` writes.
var ScanFormats = []string{"table", "json", "sarif", "cyclonedx"}

// ScanReport is a vulnerability scan: the inventory it ran on and the
// verdict. Its JSON form is bulwark's scan output (schemaVersion 1).
type ScanReport struct {
	SchemaVersion string         `json:"schemaVersion"`
	Tool          sbom.Tool      `json:"tool"`
	Source        sbom.Source    `json:"source"`
	OS            *sbom.OS       `json:"os,omitempty"`
	Database      DatabaseInfo   `json:"database"`
	Summary       map[string]int `json:"summary"`
	*policy.Verdict
	// Coverage says, per OS and ecosystem found, whether the database
	// could judge it: a clean result means nothing where it could not.
	Coverage []match.Coverage `json:"coverage"`
	// Warnings are things the reader must know: an old database, an end
	// of life OS, expired ignore entries.
	Warnings []string `json:"warnings,omitempty"`
	// SBOM is the inventory, kept for the CycloneDX rendering.
	SBOM *sbom.Document `json:"-"`
}

// DatabaseInfo says which advisories the scan used.
type DatabaseInfo struct {
	Path    string `json:"path"`
	Records int    `json:"records"`
	Updated string `json:"updated,omitempty"`
}

// Summarize counts unsuppressed results per severity.
func Summarize(v *policy.Verdict) map[string]int {
	out := map[string]int{}
	for _, l := range []severity.Level{severity.Critical, severity.High, severity.Medium, severity.Low, severity.Unknown} {
		out[l.String()] = 0
	}
	for _, r := range v.Results {
		if r.Suppressed == nil {
			out[r.Severity.String()]++
		}
	}
	return out
}

// WriteScan renders a scan in format.
func WriteScan(w io.Writer, format string, r *ScanReport, opts SBOMOptions) error {
	switch format {
	case "json":
		return writeJSON(w, r)
	case "table":
		return scanTable(w, r)
	case "sarif":
		return writeJSON(w, SARIF(r))
	case "cyclonedx":
		bom := CycloneDX(r.SBOM, opts)
		bom.Vulnerabilities = cdxVulns(r)
		addScanProperties(bom, r)
		return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false).EncodeVersion(bom, cdx.SpecVersion1_6)
	}
	return fmt.Errorf("unknown scan format %q (want one of %s)", format, strings.Join(ScanFormats, ", "))
}

func fixedText(fixed []string) string {
	if len(fixed) == 0 {
		return "unfixed"
	}
	return strings.Join(fixed, ", ")
}

func pkgDisplayName(p *sbom.Package) string {
	switch {
	case p.Namespace == "" || p.Type == sbom.TypeAPK || p.Type == sbom.TypeDeb || p.Type == sbom.TypeRPM:
		return p.Name
	case p.Type == sbom.TypeMaven:
		return p.Namespace + ":" + p.Name
	}
	return p.Namespace + "/" + p.Name
}

func scanTable(w io.Writer, r *ScanReport) error {
	fmt.Fprintf(w, "%s (%s)\n", r.Source.Ref, r.Source.Kind)
	if r.OS != nil {
		fmt.Fprintf(w, "OS: %s %s\n", r.OS.ID, r.OS.VersionID)
	}
	fmt.Fprintf(w, "Total: %d (CRITICAL: %d, HIGH: %d, MEDIUM: %d, LOW: %d, UNKNOWN: %d)\n", r.Failing,
		r.Summary["CRITICAL"], r.Summary["HIGH"], r.Summary["MEDIUM"], r.Summary["LOW"], r.Summary["UNKNOWN"])
	// Warnings come before the findings: a short or empty table must not
	// be read as a clean image when the database could not judge it.
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	fmt.Fprintln(w)
	rows := append([]policy.Result(nil), r.Results...)
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Level() != rows[j].Level() {
			return rows[i].Level() > rows[j].Level()
		}
		if rows[i].Package.Name != rows[j].Package.Name {
			return rows[i].Package.Name < rows[j].Package.Name
		}
		return rows[i].ID < rows[j].ID
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tVULNERABILITY\tSEVERITY\tINSTALLED\tFIXED\tLAYER\tTITLE")
	suppressed := 0
	for _, res := range rows {
		if res.Suppressed != nil {
			suppressed++
			continue
		}
		layer := ""
		if res.Package.Layer != nil {
			layer = fmt.Sprint(res.Package.Layer.Index)
		}
		title := res.Summary
		if len(title) > 60 {
			title = title[:57] + "..."
		}
		sev := res.Severity.String()
		if res.CountedAs != nil {
			sev += " (as " + res.CountedAs.String() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pkgDisplayName(&res.Package), res.ID, sev,
			res.Package.Version, fixedText(res.Fixed), layer, title)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if suppressed > 0 {
		fmt.Fprintf(w, "\n%d finding(s) suppressed by the ignore file or VEX (see --format json for the reasons)\n", suppressed)
	}
	return nil
}

// cdxVulns renders results as CycloneDX vulnerabilities that point at the
// components of the same BOM; suppressed ones carry the VEX analysis.
func cdxVulns(r *ScanReport) *[]cdx.Vulnerability {
	out := []cdx.Vulnerability{}
	for _, res := range r.Results {
		v := cdx.Vulnerability{
			BOMRef:      res.ID + "/" + bomRef(&res.Package),
			ID:          res.ID,
			Source:      &cdx.Source{Name: res.Ecosystem, URL: res.URL},
			Description: res.Summary,
			Affects:     &[]cdx.Affects{{Ref: bomRef(&res.Package)}},
		}
		rating := cdx.VulnerabilityRating{Severity: cdx.Severity(strings.ToLower(res.Severity.String()))}
		if res.Vector != "" {
			score := res.Score
			rating.Score, rating.Vector = &score, res.Vector
			switch {
			case strings.HasPrefix(res.Vector, "CVSS:3.1/"):
				rating.Method = cdx.ScoringMethodCVSSv31
			case strings.HasPrefix(res.Vector, "CVSS:3.0/"):
				rating.Method = cdx.ScoringMethodCVSSv3
			case strings.HasPrefix(res.Vector, "CVSS:4.0/"):
				rating.Method = cdx.ScoringMethodCVSSv4
			}
		}
		v.Ratings = &[]cdx.VulnerabilityRating{rating}
		if len(res.Aliases) > 0 {
			var refs []cdx.VulnerabilityReference
			for _, a := range res.Aliases {
				refs = append(refs, cdx.VulnerabilityReference{ID: a, Source: &cdx.Source{Name: "alias"}})
			}
			v.References = &refs
		}
		if len(res.Fixed) > 0 {
			v.Recommendation = "Upgrade " + pkgDisplayName(&res.Package) + " to " + strings.Join(res.Fixed, " or ")
		}
		if s := res.Suppressed; s != nil {
			a := &cdx.VulnerabilityAnalysis{State: cdx.IASNotAffected, Detail: s.Kind + ": " + s.Reason}
			if s.Status == "fixed" {
				a.State = cdx.IASResolved
			}
			if j := cdx.ImpactAnalysisJustification(s.Reason); s.Kind == "vex" && vexJustifications[s.Reason] {
				a.Justification = j
			}
			v.Analysis = a
		}
		out = append(out, v)
	}
	return &out
}

// vexJustifications maps OpenVEX justifications that CycloneDX shares.
var vexJustifications = map[string]bool{"code_not_present": true, "code_not_reachable": true, "requires_configuration": true,
	"requires_dependency": true, "requires_environment": true, "protected_by_compiler": true,
	"protected_at_runtime": true, "protected_at_perimeter": true, "protected_by_mitigating_control": true}

// addScanProperties records coverage and warnings in the BOM's metadata,
// where CycloneDX consumers keep tool-specific facts.
func addScanProperties(bom *cdx.BOM, r *ScanReport) {
	if bom.Metadata == nil {
		bom.Metadata = &cdx.Metadata{}
	}
	var props []cdx.Property
	if bom.Metadata.Properties != nil {
		props = *bom.Metadata.Properties
	}
	for _, c := range r.Coverage {
		props = append(props, cdx.Property{Name: "bulwark:coverage:" + c.Ecosystem, Value: c.Status})
	}
	for _, w := range r.Warnings {
		props = append(props, cdx.Property{Name: "bulwark:warning", Value: w})
	}
	if len(props) > 0 {
		bom.Metadata.Properties = &props
	}
}
