package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

const benchState = "../dockerbench/testdata/host.json"

func TestCISDockerFromState(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "bench.log")
	code, out, errOut := run(t, nil, "cis", "docker", "--state", benchState, "--log", log, "--exit-code", "3")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (a container runs as root); stderr %s", code, errOut)
	}
	for _, want := range []string{"[WARN] 4.1 - Ensure that a user for the container has been created (Automated)", "[INFO] Checks: 117", "Section C - Score"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\033[") {
		t.Error("colours in a report that is not on a terminal")
	}
	text, err := os.ReadFile(log)
	if err != nil || string(text) != out {
		t.Errorf("--log wrote something else than stdout (%v)", err)
	}
	var j struct {
		Tests []struct {
			ID      string `json:"id"`
			Results []struct {
				ID, Result string
			} `json:"results"`
		} `json:"tests"`
		Checks int `json:"checks"`
	}
	b, err := os.ReadFile(log + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &j); err != nil || j.Checks != 117 || len(j.Tests) != 7 {
		t.Fatalf("JSON log: %v, %d checks, %d sections", err, j.Checks, len(j.Tests))
	}

	// Without --exit-code, findings are not an error.
	if code, _, errOut := run(t, nil, "cis", "docker", "--state", benchState, "--check", "5", "--format", "json"); code != 0 {
		t.Errorf("exit %d without --exit-code: %s", code, errOut)
	}
}

func TestCISDockerErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"info": {"DockerRootDir": "/x"}, "nonsense": true}`), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown check", []string{"--state", benchState, "--check", "5.99"}, `no check "5.99"`},
		{"bad snapshot", []string{"--state", bad}, "bad.json: not a docker bench snapshot"},
		{"missing snapshot", []string{"--state", filepath.Join(dir, "none.json")}, "none.json"},
		{"bad format", []string{"--state", benchState, "--format", "sarif"}, `--format "sarif"`},
		{"bad pattern", []string{"--state", benchState, "--include", "("}, `--include "("`},
		{"no engine", []string{"--host", "unix://" + filepath.Join(dir, "no.sock")}, "--host sets its address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := run(t, nil, append([]string{"cis", "docker"}, tc.args...)...)
			if code != ExitError || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, ExitError, tc.want)
			}
		})
	}
}

func TestCISDockerList(t *testing.T) {
	code, out, _ := run(t, nil, "cis", "docker", "--list")
	if code != 0 {
		t.Fatal(code)
	}
	lines := 0
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			lines++
		}
	}
	if lines != 145 || !strings.Contains(out, "4.4      manual") || !strings.Contains(out, "bulwark scan") {
		t.Errorf("%d entries listed, want 145 with manual reasons:\n%s", lines, out)
	}
}

// TestCISDockerLive: on this machine's engine, the snapshot a live run
// saves judges the same as the live run.
func TestCISDockerLive(t *testing.T) {
	testenv.NeedDocker(t)
	if os.Geteuid() != 0 {
		t.Skip("reads root-only host files")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	code, live, errOut := run(t, nil, "cis", "docker", "--save-state", state, "--check", "1,2,3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, saved, errOut := run(t, nil, "cis", "docker", "--state", state, "--check", "1,2,3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	strip := func(s string) string { return s[strings.Index(s, "\n"):] } // the start time differs
	if strip(live) != strip(saved) {
		t.Errorf("the saved snapshot judges differently:\nlive:\n%s\nsaved:\n%s", live, saved)
	}
	if !strings.Contains(live, "[PASS] 3.15 - ") && !strings.Contains(live, "[WARN] 3.15 - ") {
		t.Errorf("the live run did not judge the engine's socket:\n%s", live)
	}
}

func TestCISKubernetes(t *testing.T) {
	cfg := testenv.CorpusPath(t, "cis/kube-bench/cfg")
	code, out, errOut := run(t, nil, "cis", "kubernetes", "--config-dir", cfg, "--benchmark", "cis-1.12", "--targets", "policies", "--exit-code", "4")
	if code != 0 {
		t.Fatalf("exit %d (policies are all manual: WARN, no FAIL): %s", code, errOut)
	}
	for _, want := range []string{"[INFO] 5 Kubernetes Policies\n", "[WARN] 5.1.1 Ensure that the cluster-admin role is only used where required (Manual)\n", "== Summary policies ==\n", "== Summary total ==\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, nil, "cis", "kubernetes", "--config-dir", cfg, "--version", "1.28", "--targets", "controlplane", "--format", "json")
	var j struct {
		Controls []struct {
			Version string `json:"version"`
			Type    string `json:"node_type"`
		}
		Totals struct {
			Warn int `json:"total_warn"`
		}
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 || len(j.Controls) != 1 || j.Controls[0].Version != "cis-1.10" || j.Totals.Warn == 0 {
		t.Errorf("exit %d, %v, %+v", code, err, j)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config-dir", t.TempDir()}, "config.yaml"},
		{[]string{"--config-dir", cfg, "--benchmark", "k3s-cis-1.9", "--targets", "node"}, `unknown compare op "noteqx"`},
		{[]string{"--config-dir", cfg, "--benchmark", "cis-1.12", "--targets", "workers"}, `target "workers"`},
		{[]string{"--config-dir", cfg, "--version", "1.1"}, "no benchmark for Kubernetes 1.1"},
		{[]string{"--config-dir", cfg, "--benchmark", "cis-1.12", "--format", "xml"}, `--format "xml"`},
	} {
		code, _, errOut := run(t, nil, append([]string{"cis", "kubernetes"}, tc.args...)...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestReportCompliance: check results and a CIS Docker Benchmark log
// (docker-bench-security's own) judged against NIST SP 800-53's Moderate
// baseline and the CIS Docker Benchmark; the OSCAL report signed, and
// verified offline by bulwark and by cosign; a changed report refused.
func TestReportCompliance(t *testing.T) {
	dir := t.TempDir()
	checksFile, benchFile := "../compliance/testdata/checks.json", "../compliance/testdata/docker-bench-security.log.json"
	env := map[string]string{"BULWARK_PASSWORD": "pw-compliance"}
	if code, _, errOut := run(t, env, "key", "generate", "--output-prefix", filepath.Join(dir, "k")); code != 0 {
		t.Fatal(errOut)
	}
	html := filepath.Join(dir, "nist.html")
	code, _, errOut := run(t, env, "report", "compliance", "--framework", "nist-800-53", "--baseline", "moderate",
		"--checks", checksFile, "--docker-bench", benchFile, "--format", "html", "-o", html, "--exit-code", "3")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (AC-6 fails): %s", code, errOut)
	}
	page, _ := os.ReadFile(html)
	for _, want := range []string{"NIST SP 800-53 (Moderate baseline)", `<td class="state fail">fail</td>`, "AC-6", "Least Privilege", "<script"} {
		if got := strings.Contains(string(page), want); got != (want != "<script") {
			t.Errorf("HTML report: %q present = %v", want, got)
		}
	}
	ar := filepath.Join(dir, "ar.json")
	args := []string{"report", "compliance", "--framework", "cis-docker", "--docker-bench", benchFile, "--checks", checksFile,
		"--format", "oscal", "-o", ar, "--at", "2026-12-03T09:00:00Z", "--sign", filepath.Join(dir, "k.key")}
	if code, _, errOut := run(t, env, args...); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	first, _ := os.ReadFile(ar)
	run(t, env, args...)
	if again, _ := os.ReadFile(ar); !bytes.Equal(first, again) {
		t.Error("the same inputs gave different bytes")
	}
	sig := ar + ".dsse.json"
	code, out, errOut := run(t, nil, "verify-blob-attestation", ar, "--key", filepath.Join(dir, "k.pub"), "--signature", sig)
	if code != 0 || !strings.Contains(out, "https://bulwark.dev/attestation/compliance/v1") {
		t.Fatalf("verify: exit %d %s %s", code, out, errOut)
	}
	cosignBin := cosignBinary(t, "BULWARK_COSIGN")
	if out, err := cosign(t, cosignBin, dir, "", "verify-blob-attestation", "--key", "k.pub", "--signature", sig,
		"--type", "https://bulwark.dev/attestation/compliance/v1", "--insecure-ignore-tlog=true", ar); err != nil {
		t.Fatalf("cosign verify-blob-attestation: %v\n%s", err, out)
	}
	os.WriteFile(ar, append(first, ' '), 0o644)
	if code, _, errOut := run(t, nil, "verify-blob-attestation", ar, "--key", filepath.Join(dir, "k.pub"), "--signature", sig); code != ExitFindings || !strings.Contains(errOut, "another file") {
		t.Errorf("a changed report: exit %d, %s", code, errOut)
	}
	if out, err := cosign(t, cosignBin, dir, "", "verify-blob-attestation", "--key", "k.pub", "--signature", sig,
		"--type", "https://bulwark.dev/attestation/compliance/v1", "--insecure-ignore-tlog=true", ar); err == nil {
		t.Errorf("cosign accepted a changed report:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--framework", "iso-27001", "--checks", checksFile}, `no framework "iso-27001"`},
		{[]string{"--framework", "pci-dss"}, "no evidence"},
		{[]string{"--framework", "pci-dss", "--checks", benchFile}, "not a bulwark check report"},
		{[]string{"--framework", "pci-dss", "--docker-bench", checksFile}, "not a docker-bench-security JSON log"},
		{[]string{"--framework", "pci-dss", "--checks", checksFile, "--format", "pdf"}, `--format "pdf"`},
		{[]string{"--framework", "pci-dss", "--checks", checksFile, "--baseline", "high"}, "--baseline applies to NIST"},
		{[]string{"--framework", "pci-dss", "--checks", checksFile, "--sign", "k.key"}, "--sign needs -o"},
		{[]string{"--framework", "pci-dss", "--checks", checksFile, "--at", "yesterday"}, `--at "yesterday"`},
		{[]string{}, "no framework"},
	} {
		code, _, errOut := run(t, nil, append([]string{"report", "compliance"}, tc.args...)...)
		if code != ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}
