package report

import (
	"fmt"
	"strings"

	"bulwark.dev/bulwark/internal/severity"
)

// SARIF 2.1.0, the subset bulwark writes. Written by hand: the structs
// are small and the output stays byte-for-byte deterministic.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations,omitempty"`
	Results     []sarifResult     `json:"results"`
	Properties  map[string]any    `json:"properties,omitempty"`
}

// sarifInvocation carries what the run could not do (no advisories for
// an OS, unreadable inputs) as notifications, where code-scanning tools
// show them.
type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

func sarifWarnings(ws []string) []sarifInvocation {
	if len(ws) == 0 {
		return nil
	}
	inv := sarifInvocation{ExecutionSuccessful: true}
	for _, w := range ws {
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "warning", Message: sarifText{Text: w}})
	}
	return []sarifInvocation{inv}
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string         `json:"id"`
	Name             string         `json:"name,omitempty"`
	ShortDescription sarifText      `json:"shortDescription"`
	FullDescription  sarifText      `json:"fullDescription"`
	HelpURI          string         `json:"helpUri,omitempty"`
	Help             sarifHelp      `json:"help"`
	Properties       map[string]any `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown"`
}

type sarifResult struct {
	RuleID       string             `json:"ruleId"`
	RuleIndex    int                `json:"ruleIndex"`
	Level        string             `json:"level"`
	Message      sarifText          `json:"message"`
	Locations    []sarifLocation    `json:"locations"`
	Suppressions []sarifSuppression `json:"suppressions,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifSuppression struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification,omitempty"`
}

// sarifLevel maps severities to SARIF levels as code-scanning tools
// expect (error for critical and high).
func sarifLevel(l severity.Level) string {
	switch l {
	case severity.Critical, severity.High:
		return "error"
	case severity.Medium:
		return "warning"
	}
	return "note"
}

// SARIF renders a scan as a SARIF 2.1.0 log: one rule per advisory, one
// result per affected package, located at the file the package was found
// in; suppressed findings carry an external suppression.
func SARIF(r *ScanReport) *sarifLog {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{Name: r.Tool.Name, Version: r.Tool.Version,
		InformationURI: "https://bulwark.dev", Rules: []sarifRule{}}}, Results: []sarifResult{}}
	// Rules in the order results first name them (results are sorted).
	index := map[string]int{}
	for _, res := range r.Results {
		if _, ok := index[res.ID]; ok {
			continue
		}
		index[res.ID] = len(run.Tool.Driver.Rules)
		summary := res.Summary
		if summary == "" {
			summary = res.ID
		}
		md := fmt.Sprintf("**%s** (%s)\n\n%s\n\nAliases: %s\n\nAdvisory: %s", res.ID, res.Severity, summary, strings.Join(res.Aliases, ", "), res.URL)
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID:               res.ID,
			Name:             "Vulnerability",
			ShortDescription: sarifText{Text: summary},
			FullDescription:  sarifText{Text: summary},
			HelpURI:          res.URL,
			Help:             sarifHelp{Text: fmt.Sprintf("%s (%s): %s. Advisory: %s", res.ID, res.Severity, summary, res.URL), Markdown: md},
			Properties: map[string]any{
				"security-severity": fmt.Sprintf("%.1f", securityScore(res.Score, res.Level())), // what it counts as: an unknown severity counted as HIGH sorts as HIGH
				"tags":              []string{"security", "vulnerability", res.Severity.String()},
			},
		})
	}
	for _, res := range r.Results {
		loc := res.Package.Locations[0].Path
		msg := fmt.Sprintf("%s %s is affected by %s (%s); fixed in: %s", pkgDisplayName(&res.Package), res.Package.Version, res.ID, res.Severity, fixedText(res.Fixed))
		sr := sarifResult{RuleID: res.ID, RuleIndex: index[res.ID], Level: sarifLevel(res.Level()), Message: sarifText{Text: msg},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: loc}}}}}
		if s := res.Suppressed; s != nil {
			sr.Suppressions = []sarifSuppression{{Kind: "external", Justification: s.Kind + ": " + s.Reason}}
		}
		run.Results = append(run.Results, sr)
	}
	run.Invocations = sarifWarnings(r.Warnings)
	if len(r.Coverage) > 0 {
		run.Properties = map[string]any{"coverage": r.Coverage}
	}
	return &sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
}

// securityScore is the number GitHub code scanning sorts by: the CVSS
// score, or the middle of the severity band.
func securityScore(score float64, l severity.Level) float64 {
	if score > 0 {
		return score
	}
	return map[severity.Level]float64{severity.Critical: 9.5, severity.High: 8.0, severity.Medium: 5.5, severity.Low: 2.0}[l]
}
