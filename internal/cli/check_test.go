package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/testenv"
)

const openPod = `apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
  annotations:
    bulwark.dev/ignore: "BW-K8S-016 images are pinned by the admission webhook"
spec:
  containers:
  - name: api
    image: example.com/api:1.0
    securityContext:
      privileged: true
`

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	pod := filepath.Join(dir, "pod.yaml")
	os.WriteFile(pod, []byte(openPod), 0o644)
	ignore := filepath.Join(dir, "exceptions.yaml")
	os.WriteFile(ignore, []byte("ignores:\n  - id: BW-K8S-004\n    object: Pod shop/*\n    reason: debug pod, removed after the incident\n    expires: 2999-01-01\n  - id: BW-K8S-015\n    object: Pod other/*\n    reason: not this pod\n"), 0o644)

	code, out, errOut := run(t, nil, "check", "--format", "json", "--ignorefile", ignore, pod)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep report.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range rep.Results {
		status[r.CheckID] = r.Status
		if r.Status == "fail" && (r.Line == 0 || r.Object.File != pod) {
			t.Errorf("%s: no location: %+v", r.CheckID, r)
		}
	}
	for id, want := range map[string]string{
		"BW-K8S-016": "excepted", // annotation
		"BW-K8S-004": "excepted", // ignore file, object glob
		"BW-K8S-015": "fail",     // the entry names another namespace
		"BW-K8S-011": "pass",
		"BW-K8S-001": "fail",
	} {
		if status[id] != want {
			t.Errorf("%s: %q, want %q", id, status[id], want)
		}
	}
	if rep.Summary.Passed == 0 || rep.Summary.Failed == 0 || rep.Summary.Excepted != 2 {
		t.Errorf("summary %+v", rep.Summary)
	}

	// Gating: privileged is excepted, so only HIGH failures that remain
	// count (runAsNonRoot missing is HIGH).
	if code, _, _ := run(t, nil, "check", "--severity", "HIGH", "--exit-code", "4", "--ignorefile", ignore, pod); code != 4 {
		t.Errorf("--exit-code 4: exit %d", code)
	}
	if code, _, _ := run(t, nil, "check", "--severity", "CRITICAL", "--exit-code", "4", "--ignorefile", ignore, pod); code != 0 {
		t.Errorf("only an excepted CRITICAL: exit %d", code)
	}
	// The output flags are validated alike by every check command, before
	// any work (check docker --state names a file that does not exist).
	for _, args := range [][]string{
		{"check", "--exit-code", "2", pod},
		{"check", "image", "--exit-code", "2", "oci:/nonexistent"},
		{"check", "docker", "--exit-code", "2", "--state", "/nonexistent"},
		{"check", "docker", "--format", "xml", "--state", "/nonexistent"},
		{"check", "image", "--severity", "SEVERE", "oci:/nonexistent"},
	} {
		code, _, errOut := run(t, nil, args...)
		if code != ExitError || !strings.Contains(errOut, args[2]) {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}

	// SARIF validates and points at lines; JUnit parses.
	_, sarif, _ := run(t, nil, "check", "--format", "sarif", pod)
	testenv.ValidateJSONSchema(t, "sarif-schema-2.1.0.json", []byte(sarif))
	if !strings.Contains(sarif, `"startLine": 13`) {
		t.Errorf("SARIF lacks the privileged line 13:\n%s", sarif)
	}
	_, junit, _ := run(t, nil, "check", "--format", "junit", pod)
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal([]byte(junit), &suites); err != nil || suites.Failures == 0 || suites.Tests <= suites.Failures {
		t.Errorf("JUnit: %v %+v", err, suites)
	}

	// Standard input, and a file that is not valid YAML.
	var stdout, stderr bytes.Buffer
	code = Run(context.Background(), []string{"check", "-", "--format", "json"}, os.Getenv, strings.NewReader(openPod), &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "BW-K8S-004") {
		t.Errorf("stdin: exit %d %s", code, stderr.String())
	}
	bad := filepath.Join(dir, "broken.yaml")
	os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n"), 0o644)
	code, _, errOut = run(t, nil, "check", bad, pod)
	if code != 0 || !strings.Contains(errOut, "broken.yaml") || !strings.Contains(errOut, "not valid YAML") {
		t.Errorf("broken file next to a good one: exit %d, %q", code, errOut)
	}
	code, _, errOut = run(t, nil, "check", bad)
	if code != ExitError || !strings.Contains(errOut, "could be read") {
		t.Errorf("only a broken file: exit %d, %q", code, errOut)
	}
}

// TestCheckGateReadsLikeKubectl: a directory with a Pod kubectl applies
// as privileged (privileged: yes) and Pods the cluster would refuse
// (quoted numbers) fails a CRITICAL gate, and every output format names
// the unreadable objects.
func TestCheckGateReadsLikeKubectl(t *testing.T) {
	dir := filepath.Join("..", "checks", "testdata", "kubectl")
	for _, file := range []string{"privileged-yes.yaml", "quoted-numbers.yaml", "compose.yaml"} {
		code, _, errOut := run(t, nil, "check", "--severity", "CRITICAL", "--exit-code", "1", filepath.Join(dir, file))
		if code != 1 {
			t.Errorf("%s: exit %d, want 1 (%s)", file, code, errOut)
		}
	}
	for _, format := range []string{"json", "sarif", "junit", "table"} {
		_, out, _ := run(t, nil, "check", "--format", format, "--severity", "CRITICAL", filepath.Join(dir, "quoted-numbers.yaml"))
		if strings.Count(out, "BW-INP-001") < 2 || !strings.Contains(out, "runAsUser") || !strings.Contains(out, "containerPort") {
			t.Errorf("%s output does not report both unreadable Pods:\n%s", format, out)
		}
	}
	// Nothing readable at all is an error after the report.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("kind: [\n"), 0o644)
	if code, out, _ := run(t, nil, "check", "--format", "json", bad); code != ExitError || !strings.Contains(out, "BW-INP-001") {
		t.Errorf("only unreadable input: exit %d, output %s", code, out)
	}
}

// TestIgnoreObjectsAsFindingsNameThem: an object without a namespace is
// excepted by "Kind default/name" (kubectl puts it in default) as well as
// "Kind name"; an entry that matches nothing is reported.
func TestIgnoreObjectsAsFindingsNameThem(t *testing.T) {
	dir := t.TempDir()
	pod := filepath.Join(dir, "deploy.yaml")
	os.WriteFile(pod, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: frontend\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"), 0o644)
	ignore := filepath.Join(dir, "ignore.yaml")
	os.WriteFile(ignore, []byte("ignores:\n- id: BW-K8S-001\n  object: Deployment default/frontend\n  reason: migrating\n- id: BW-K8S-003\n  object: Deployment prod/frontend\n  reason: a typo in the namespace\n- id: CVE-2024-0001\n  reason: for scans, not checks\n"), 0o644)
	code, out, errOut := run(t, nil, "check", "-f", "json", "--ignorefile", ignore, pod)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep report.CheckReport
	json.Unmarshal([]byte(out), &rep)
	status := map[string]string{}
	for _, r := range rep.Results {
		status[r.CheckID] = r.Status
	}
	if status["BW-K8S-001"] != "excepted" || status["BW-K8S-003"] != "fail" {
		t.Errorf("BW-K8S-001 %s (want excepted), BW-K8S-003 %s (want fail)", status["BW-K8S-001"], status["BW-K8S-003"])
	}
	if !strings.Contains(errOut, "BW-K8S-003 for Deployment prod/frontend") || !strings.Contains(errOut, "matched nothing") || strings.Contains(errOut, "CVE-2024-0001") {
		t.Errorf("unused entries not reported as expected: %s", errOut)
	}
}
