package cli

import (
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
