package checks

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/check-agreement.md")

// kubeLinterMap names the bulwark check that covers each kube-linter
// check whose fixtures the corpus holds.
var kubeLinterMap = map[string]string{
	"run-as-non-root":                "BW-K8S-001",
	"no-read-only-root-fs":           "BW-K8S-002",
	"privilege-escalation-container": "BW-K8S-003",
	"privileged-container":           "BW-K8S-004",
	"drop-net-raw-capability":        "BW-K8S-005",
	"host-ipc":                       "BW-K8S-011",
	"host-network":                   "BW-K8S-011",
	"host-pid":                       "BW-K8S-011",
	"sensitive-host-mounts":          "BW-K8S-012",
	"docker-sock":                    "BW-K8S-012",
	"exposed-services":               "BW-K8S-014",
	"unset-cpu-requirements":         "BW-K8S-015",
	"unset-memory-requirements":      "BW-K8S-015",
	"latest-tag":                     "BW-K8S-017",
	"env-var-secret":                 "BW-K8S-019",
}

// hadolintMap names the bulwark check covering each hadolint rule.
var hadolintMap = map[string]string{
	"DL3002": "BW-DF-001",
	"DL3006": "BW-DF-009",
	"DL3007": "BW-DF-009",
	"DL3009": "BW-DF-006",
	"DL3019": "BW-DF-006",
	"DL3032": "BW-DF-006",
	"DL3040": "BW-DF-006",
	"DL3042": "BW-DF-006",
}

// polarisMap, kubeScoreMap and kubescapeMap name the bulwark check that
// covers each of those tools' rules.
var polarisMap = map[string]string{
	"automountServiceAccountToken": "BW-K8S-018",
	"cpuLimitsMissing":             "BW-K8S-015",
	"memoryLimitsMissing":          "BW-K8S-015",
	"dangerousCapabilities":        "BW-K8S-006",
	"insecureCapabilities":         "BW-K8S-005",
	"hostIPCSet":                   "BW-K8S-011",
	"hostNetworkSet":               "BW-K8S-011",
	"hostPIDSet":                   "BW-K8S-011",
	"hostPathSet":                  "BW-K8S-012",
	"hostPortSet":                  "BW-K8S-013",
	"notReadOnlyRootFilesystem":    "BW-K8S-002",
	"privilegeEscalationAllowed":   "BW-K8S-003",
	"runAsPrivileged":              "BW-K8S-004",
	"runAsRootAllowed":             "BW-K8S-001",
	"tagNotSpecified":              "BW-K8S-017",
	"sensitiveContainerEnvVar":     "BW-K8S-019",
}

var kubeScoreMap = map[string]string{
	"Container Resources": "BW-K8S-015",
	"Container Image Tag": "BW-K8S-017",
	"Service Type":        "BW-K8S-014",
}

var kubescapeMap = map[string]string{
	"non-root-containers":               "BW-K8S-001",
	"immutable-container-filesystem":    "BW-K8S-002",
	"rule-allow-privilege-escalation":   "BW-K8S-003",
	"rule-privileged-container":         "BW-K8S-004",
	"insecure-capabilities":             "BW-K8S-006",
	"host-ipc-privileges":               "BW-K8S-011",
	"host-pid-privileges":               "BW-K8S-011",
	"host-network-access":               "BW-K8S-011",
	"host-pid-ipc-privileges":           "BW-K8S-011",
	"alert-any-hostpath":                "BW-K8S-012",
	"containers-mounting-docker-socket": "BW-K8S-012",
	"container-hostPort":                "BW-K8S-013",
	"automount-service-account":         "BW-K8S-018",
	"rule-credentials-in-env-var":       "BW-K8S-019,BW-K8S-020",
}

// explanations say why bulwark disagrees with a peer on a rule; a rule
// that disagrees without one fails the test.
var explanations = map[string]string{
	"hadolint DL3002":                       "hadolint warns on any stage whose last USER is root, even an intermediate stage that does not set the image's user (\"warns on multiple stages\"); bulwark judges the final image's effective user. And bulwark fails a final stage that sets no USER at all, inheriting root from its base, which hadolint accepts (\"does not warn when switching in multiple stages\").",
	"kube-score Container Resources":        "kube-score also requires CPU and memory requests; bulwark's check is about limits (which bound a container's use), so containers with limits and without requests pass it.",
	"kubescape rule-credentials-in-env-var": "kubescape also flags values that are merely sensitive words (\"JWT\", \"my_key_value\"); bulwark flags secret-looking names with a value, and values that have the form of a credential (AWS access keys, PEM private keys, bearer tokens).",
	"kubescape rule-privileged-container":   "kubescape counts a container that adds SYS_ADMIN as privileged; bulwark reports SYS_ADMIN under BW-K8S-006 (dangerous capabilities) and keeps BW-K8S-004 for privileged: true.",
	"polaris insecureCapabilities":          "Polaris passes containers that drop a list of specific capabilities; bulwark asks for drop: [ALL], as the Pod Security Standards' restricted profile does.",
	"polaris memoryLimitsMissing":           "bulwark checks CPU and memory limits in one check; Polaris's memory fixture has no CPU limit.",
	"hadolint DL3040":                       "the remaining cases clean with a different tool than installed (dnf install && microdnf clean all): hadolint requires the same tool, bulwark accepts either, since both clean the shared cache.",
	"hadolint DL3009":                       "the corpus holds these two snippets twice, once expected to warn and once not (hadolint's specs run them under different settings); bulwark does not warn, since the stage with the apt cache is not shipped in the final image.",
}

type agreement struct {
	tool, rule, check string
	cases, agree      int
	disagree          []string
}

func checkByID(t *testing.T) map[string]*Check {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*Check{}
	for _, c := range all {
		m[c.ID] = c
	}
	return m
}

func kubeLinterAgreement(t *testing.T, byID map[string]*Check) []*agreement {
	b, err := os.ReadFile(testenv.CorpusPath(t, "k8s", "kube-linter", "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Cases []struct {
			Test          string   `json:"test"`
			File          string   `json:"file"`
			IncludeChecks []string `json:"include_checks"`
			Count         *int     `json:"expected_report_count"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	var out []*agreement
	for _, c := range exp.Cases {
		if len(c.IncludeChecks) != 1 || c.Count == nil {
			continue
		}
		id, ok := kubeLinterMap[c.IncludeChecks[0]]
		if !ok {
			continue
		}
		objs, errs := Load([]string{testenv.CorpusPath(t, "k8s", "kube-linter", c.File)}, nil)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", c.File, errs)
		}
		fails := 0
		for _, r := range mustRun(t, []*Check{byID[id]}, objs, DefaultEnv(), nil) {
			if r.Status == "fail" {
				fails++
			}
		}
		a := &agreement{tool: "kube-linter", rule: c.IncludeChecks[0], check: id, cases: 1}
		if fails == *c.Count {
			a.agree = 1
		} else {
			a.disagree = append(a.disagree, fmt.Sprintf("%s: kube-linter %d reports, bulwark %d", c.File, *c.Count, fails))
		}
		out = append(out, a)
	}
	return out
}

func hadolintAgreement(t *testing.T, byID map[string]*Check) []*agreement {
	b, err := os.ReadFile(testenv.CorpusPath(t, "dockerfiles", "hadolint-expected", "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Cases []struct {
			Rule            string `json:"rule"`
			Title           string `json:"title"`
			ExpectViolation bool   `json:"expect_violation"`
			ConfigOverride  any    `json:"config_override"`
			Dockerfile      string `json:"dockerfile"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	byRule := map[string]*agreement{}
	for _, c := range exp.Cases {
		id, ok := hadolintMap[c.Rule]
		if !ok || c.ConfigOverride != nil {
			continue
		}
		src := c.Dockerfile
		if !strings.Contains(strings.ToUpper(src), "FROM ") {
			src = "FROM debian:12\n" + src
		}
		a := byRule[c.Rule]
		if a == nil {
			a = &agreement{tool: "hadolint", rule: c.Rule, check: id}
			byRule[c.Rule] = a
		}
		objs, errs := Parse("Dockerfile", []byte(src))
		if len(errs) > 0 {
			continue // hadolint parses fragments bulwark refuses; not a verdict
		}
		a.cases++
		fails := 0
		for _, r := range mustRun(t, []*Check{byID[id]}, objs, DefaultEnv(), nil) {
			if r.Status == "fail" {
				fails++
			}
		}
		if (fails > 0) == c.ExpectViolation {
			a.agree++
		} else {
			a.disagree = append(a.disagree, fmt.Sprintf("%q (hadolint: violation=%v, bulwark: %v)", c.Title, c.ExpectViolation, fails > 0))
		}
	}
	var out []*agreement
	for _, a := range byRule {
		out = append(out, a)
	}
	return out
}

// verdict runs the mapped checks over objects: does any fail anything?
func verdict(byID map[string]*Check, ids string, objs []*Object) bool {
	var cs []*Check
	for _, id := range strings.Split(ids, ",") {
		cs = append(cs, byID[id])
	}
	for _, r := range mustRun(nil, cs, objs, DefaultEnv(), nil) {
		if r.Status == "fail" {
			return true
		}
	}
	return false
}

func record(byRule map[string]*agreement, tool, rule, check, name string, want, got bool) {
	a := byRule[tool+" "+rule]
	if a == nil {
		a = &agreement{tool: tool, rule: rule, check: check}
		byRule[tool+" "+rule] = a
	}
	a.cases++
	if want == got {
		a.agree++
	} else {
		a.disagree = append(a.disagree, fmt.Sprintf("%s (%s: violation=%v, bulwark: %v)", name, tool, want, got))
	}
}

func polarisAgreement(t *testing.T, byID map[string]*Check) []*agreement {
	byRule := map[string]*agreement{}
	for rule, id := range polarisMap {
		files, _ := filepath.Glob(testenv.CorpusPath(t, "k8s", "polaris", "test", "checks", rule, "*.yaml"))
		for _, f := range files {
			base := filepath.Base(f)
			var want bool
			switch {
			case strings.HasPrefix(base, "failure"):
				want = true
			case strings.HasPrefix(base, "success"):
			default:
				continue // mutated.yaml: polaris's own fix output
			}
			objs, errs := Load([]string{f}, nil)
			if len(errs) > 0 || len(objs) == 0 {
				continue
			}
			record(byRule, "polaris", rule, id, rule+"/"+base, want, verdict(byID, id, objs))
		}
	}
	return values(byRule)
}

func kubeScoreAgreement(t *testing.T, byID map[string]*Check) []*agreement {
	b, err := os.ReadFile(testenv.CorpusPath(t, "k8s", "kube-score", "EXPECTED.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Cases []struct {
			File  string `json:"file"`
			Check string `json:"check"`
			Grade string `json:"expected_grade"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	byRule := map[string]*agreement{}
	for _, c := range exp.Cases {
		id, ok := kubeScoreMap[c.Check]
		if !ok {
			continue
		}
		objs, errs := Load([]string{testenv.CorpusPath(t, "k8s", "kube-score", c.File)}, nil)
		if len(errs) > 0 || len(objs) == 0 {
			continue
		}
		// Critical and warning grades are violations; AllOK and AlmostOK
		// are not.
		want := c.Grade == "GradeCritical" || c.Grade == "GradeWarning"
		record(byRule, "kube-score", c.Check, id, c.File, want, verdict(byID, id, objs))
	}
	return values(byRule)
}

func kubescapeAgreement(t *testing.T, byID map[string]*Check) []*agreement {
	byRule := map[string]*agreement{}
	for rule, id := range kubescapeMap {
		cases, _ := filepath.Glob(testenv.CorpusPath(t, "k8s", "kubescape-regolibrary", "rules", rule, "test", "*"))
		for _, dir := range cases {
			b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
			if err != nil {
				continue
			}
			var alerts []any
			json.Unmarshal(b, &alerts)
			objs, errs := Load([]string{filepath.Join(dir, "input")}, nil)
			if len(errs) > 0 || len(objs) == 0 {
				continue
			}
			record(byRule, "kubescape", rule, id, rule+"/"+filepath.Base(dir), len(alerts) > 0, verdict(byID, id, objs))
		}
	}
	return values(byRule)
}

func values(m map[string]*agreement) []*agreement {
	var out []*agreement
	for _, a := range m {
		out = append(out, a)
	}
	return out
}

// TestPeerAgreement compares bulwark's verdicts with kube-linter's and
// hadolint's expected verdicts where a bulwark check covers the same
// rule, and keeps docs/check-agreement.md equal to the result (go test
// ./internal/checks -run PeerAgreement -update rewrites it).
func TestPeerAgreement(t *testing.T) {
	byID := checkByID(t)
	rows := append(kubeLinterAgreement(t, byID), hadolintAgreement(t, byID)...)
	rows = append(rows, polarisAgreement(t, byID)...)
	rows = append(rows, kubeScoreAgreement(t, byID)...)
	rows = append(rows, kubescapeAgreement(t, byID)...)
	// Merge kube-linter rows of the same rule (one fixture each today).
	merged := map[string]*agreement{}
	var keys []string
	for _, a := range rows {
		k := a.tool + " " + a.rule
		if m, ok := merged[k]; ok {
			m.cases += a.cases
			m.agree += a.agree
			m.disagree = append(m.disagree, a.disagree...)
			continue
		}
		merged[k] = a
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Agreement with kube-linter, hadolint, Polaris, kube-score and kubescape\n\nGenerated by `go test ./internal/checks -run PeerAgreement -update` from the expected verdicts in the corpus (kube-linter's e2e fixtures, hadolint's specs, Polaris's success/failure fixtures, kube-score's graded test files, kubescape's regolibrary rule tests). Each row compares one peer rule with the bulwark check that covers it: kube-linter by the number of reports on its fixture; the others by violation or not on each case (hadolint snippets without FROM get `FROM debian:12`, cases needing a non-default configuration are left out; kube-score's critical and warning grades count as violations; an empty kubescape expected.json means pass).\n\n| peer | rule | bulwark check | cases | agree | agreement |\n|---|---|---|---:|---:|---:|\n")
	totalCases, totalAgree := 0, 0
	for _, k := range keys {
		a := merged[k]
		if a.cases == 0 {
			continue
		}
		totalCases += a.cases
		totalAgree += a.agree
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %.0f%% |\n", a.tool, a.rule, a.check, a.cases, a.agree, 100*float64(a.agree)/float64(a.cases))
	}
	fmt.Fprintf(&b, "\nOverall: %d of %d cases agree.\n\n## Disagreements, explained\n", totalAgree, totalCases)
	for _, k := range keys {
		a := merged[k]
		if len(a.disagree) == 0 {
			continue
		}
		why, ok := explanations[k]
		if !ok {
			t.Errorf("%s disagrees in %d case(s) and has no explanation: %v", k, len(a.disagree), a.disagree)
		}
		fmt.Fprintf(&b, "\n### %s → %s\n\n%s\n\n", k, a.check, why)
		for _, d := range a.disagree {
			fmt.Fprintf(&b, "- %s\n", d)
		}
	}
	if totalCases < 100 {
		t.Errorf("only %d cases compared", totalCases)
	}
	b.WriteString(officialDockerfiles(t, byID))
	file := filepath.Join(testenv.RepoRoot(t), "docs", "check-agreement.md")
	if *updateDocs {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if string(got) != b.String() {
		t.Error("docs/check-agreement.md is stale: go test ./internal/checks -run PeerAgreement -update")
	}
}

// officialDockerfiles counts, per Dockerfile check, the corpus's official
// image Dockerfiles that fail it: no peer states these verdicts, so the
// counts are kept in the document and reviewed as a diff.
func officialDockerfiles(t *testing.T, byID map[string]*Check) string {
	root := testenv.CorpusPath(t, "dockerfiles")
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && kindOfFile(p) == "dockerfile" && !strings.Contains(p, "hadolint-expected") {
			files = append(files, p)
		}
		return nil
	})
	var ids []string
	for id, c := range byID {
		if c.Target == TargetDockerfile {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	failing := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, _ := Parse(f, b)
		seen := map[string]bool{}
		for _, id := range ids {
			for _, r := range mustRun(t, []*Check{byID[id]}, objs, DefaultEnv(), nil) {
				if r.Status == "fail" && !seen[id] {
					seen[id] = true
					failing[id]++
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## The Dockerfile checks on the corpus's %d official-image and awesome-compose Dockerfiles\n\nNo peer states verdicts for these; the counts are kept here so that a change shows up as a diff. BW-DF-003 passes builds that install compilers and remove them in the same RUN (apk add --virtual … apk del, apt-mark auto … apt-get purge --auto-remove): they never reach a layer.\n\n| check | Dockerfiles failing |\n|---|---:|\n", len(files))
	for _, id := range ids {
		fmt.Fprintf(&b, "| %s %s | %d |\n", id, byID[id].Title, failing[id])
	}
	return b.String()
}
