package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// AuditResult is the cluster audit's verdict on one workload.
type AuditResult struct {
	Namespace  string   `json:"namespace"`
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	UID        string   `json:"uid,omitempty"`
	Mode       string   `json:"mode"`
	Allowed    bool     `json:"allowed"`
	Reasons    []Reason `json:"reasons,omitempty"`
	Warnings   []string `json:"warnings,omitempty"`
	Exempt     string   `json:"exempt,omitempty"`
}

// AuditCluster judges every workload the cluster runs now, as the
// webhook would admit it today (after a new advisory, a key rotation).
func (w *Webhook) AuditCluster(ctx context.Context, c *Cluster) ([]AuditResult, error) {
	ws, err := c.Workloads(ctx)
	if err != nil {
		return nil, err
	}
	var out []AuditResult
	for _, wl := range ws {
		if wl.Err != nil {
			out = append(out, AuditResult{UID: wl.UID, Reasons: []Reason{{Kind: "unreadable", Message: wl.Err.Error()}}})
			continue
		}
		ko := wl.Object
		r := AuditResult{Namespace: ko.Namespace, APIVersion: ko.APIVersion, Kind: ko.Kind, Name: ko.Name, UID: wl.UID, Mode: w.Config.ModeOf(ko.Namespace)}
		dctx, cancel := context.WithTimeout(ctx, w.Config.Deadline())
		v := w.JudgeObject(dctx, ko.Namespace, ko)
		cancel()
		r.Allowed, r.Reasons, r.Warnings, r.Exempt = v.Allowed(), v.Reasons, v.Warnings, v.Exempt
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return out, nil
}

// WriteAuditTable writes one line per workload and the reasons of each
// refused one.
func WriteAuditTable(w io.Writer, rs []AuditResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tWORKLOAD\tVERDICT\tREASONS")
	refused, exempt := 0, 0
	for _, r := range rs {
		verdict := "admitted"
		switch {
		case r.Exempt != "":
			verdict = "exempt"
			exempt++
		case !r.Allowed:
			verdict = "refused"
			if r.Mode != Enforce {
				verdict += " (" + r.Mode + ")"
			}
			refused++
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%d\n", r.Namespace, r.Kind, r.Name, verdict, len(r.Reasons))
	}
	tw.Flush()
	for _, r := range rs {
		if r.Allowed {
			continue
		}
		fmt.Fprintf(w, "\n%s %s/%s:\n", r.Kind, r.Namespace, r.Name)
		for _, x := range r.Reasons {
			fmt.Fprintf(w, "  - %s\n", x.Message)
		}
	}
	fmt.Fprintf(w, "\n%d workloads: %d admitted, %d exempt, %d refused by the policy today\n", len(rs), len(rs)-refused-exempt, exempt, refused)
	return nil
}

// PolicyReports renders the audit as wgpolicyk8s.io/v1alpha2
// PolicyReports, one per namespace, in a v1 List (what Kyverno's
// tooling and Policy Reporter read). Each workload has a result per
// failing reason, or one pass.
func PolicyReports(rs []AuditResult, now time.Time) ([]byte, error) {
	type resource struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Name       string `json:"name"`
		Namespace  string `json:"namespace"`
		UID        string `json:"uid,omitempty"`
	}
	type result struct {
		Policy    string            `json:"policy"`
		Rule      string            `json:"rule"`
		Result    string            `json:"result"`
		Severity  string            `json:"severity,omitempty"`
		Category  string            `json:"category,omitempty"`
		Message   string            `json:"message"`
		Source    string            `json:"source"`
		Scored    bool              `json:"scored"`
		Timestamp map[string]int64  `json:"timestamp"`
		Resources []resource        `json:"resources"`
		Props     map[string]string `json:"properties,omitempty"`
	}
	type report struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Summary    map[string]int `json:"summary"`
		Results    []result       `json:"results"`
	}
	byNS := map[string]*report{}
	var order []string
	ts := map[string]int64{"seconds": now.Unix(), "nanos": 0}
	for _, r := range rs {
		rep := byNS[r.Namespace]
		if rep == nil {
			rep = &report{APIVersion: "wgpolicyk8s.io/v1alpha2", Kind: "PolicyReport",
				Metadata: map[string]any{"name": "bulwark-" + r.Namespace, "namespace": r.Namespace, "labels": map[string]string{"app.kubernetes.io/managed-by": "bulwark"}},
				Summary:  map[string]int{"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0}}
			byNS[r.Namespace] = rep
			order = append(order, r.Namespace)
		}
		res := []resource{{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, Namespace: r.Namespace, UID: r.UID}}
		if r.Exempt != "" {
			rep.Summary["skip"]++
			rep.Results = append(rep.Results, result{Policy: "bulwark", Rule: "admission", Result: "skip", Message: r.Exempt, Source: "bulwark", Scored: true, Timestamp: ts, Resources: res})
			continue
		}
		if r.Allowed {
			rep.Summary["pass"]++
			rep.Results = append(rep.Results, result{Policy: "bulwark", Rule: "admission", Result: "pass", Message: "admitted by the policy", Source: "bulwark", Scored: true, Timestamp: ts, Resources: res})
			continue
		}
		outcome := "fail"
		if r.Mode != Enforce {
			outcome = "warn"
		}
		for _, x := range r.Reasons {
			rule := x.Kind
			if len(x.IDs) > 0 && x.Kind == "hardening-check" {
				rule = x.IDs[0]
			}
			props := map[string]string{}
			if x.Image != "" {
				props["image"] = x.Image
			}
			if len(x.IDs) > 0 {
				props["ids"] = strings.Join(x.IDs, ",")
			}
			rep.Summary[outcome]++
			rep.Results = append(rep.Results, result{Policy: "bulwark", Rule: rule, Result: outcome, Severity: strings.ToLower(x.Severity), Category: x.Kind,
				Message: x.Message, Source: "bulwark", Scored: true, Timestamp: ts, Resources: res, Props: props})
		}
	}
	items := make([]*report, 0, len(order))
	for _, ns := range order {
		items = append(items, byNS[ns])
	}
	return json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": items}, "", "  ")
}
