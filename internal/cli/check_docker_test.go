package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/testenv"
)

func docker(t *testing.T, args ...string) string { t.Helper(); return testenv.Docker(t, args...) }

// sleeperImage imports a one-file image (a static Go program that sleeps)
// into the machine's Docker Engine: nothing can be pulled here.
func sleeperImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sleeper\n\ngo 1.22\n"), 0o644)
	build := exec.Command("go", "build", "-o", "sleeper", ".")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	tarball := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", dir, "-cf", tarball, "sleeper").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	ref := "bulwark-test/sleeper:check"
	docker(t, "import", tarball, ref)
	return ref
}

// TestCheckDockerLive starts a hardened and an open container on the
// machine's Docker Engine and checks that every container setting is
// reported for each. (--privileged cannot start on this kernel's sandbox:
// it is covered by the snapshot examples of BW-DKR-010.)
func TestCheckDockerLive(t *testing.T) {
	img := sleeperImage(t)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1_000_000)
	hard, open := "bwt-hard-"+suffix, "bwt-open-"+suffix
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", hard, open).Run() })
	docker(t, "run", "-d", "--name", hard, "--read-only", "--user", "10001:10001", "--cap-drop", "ALL",
		"--security-opt", "no-new-privileges", "--pids-limit", "64", "--memory", "64m", "--cpus", "0.5",
		"--restart", "on-failure:3", "-p", "127.0.0.1:0:8080", img, "/sleeper")
	docker(t, "run", "-d", "--name", open, "-v", "/var/run/docker.sock:/var/run/docker.sock", "--network", "host",
		"--pid", "host", "--ipc", "host", "--restart", "always", "--security-opt", "seccomp=unconfined",
		"--cap-add", "NET_ADMIN", img, "/sleeper")

	state := filepath.Join(t.TempDir(), "state.json")
	code, out, errOut := run(t, nil, "check", "docker", "--format", "json", "--save-state", state)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep report.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	status := map[string]map[string]string{hard: {}, open: {}}
	for _, r := range rep.Results {
		if m, ok := status[r.Object.Name]; ok {
			m[r.CheckID] = r.Status
		}
	}
	want := map[string]map[string]string{
		hard: {"BW-DKR-011": "pass", "BW-DKR-012": "pass", "BW-DKR-013": "pass", "BW-DKR-014": "pass", "BW-DKR-016": "pass",
			"BW-DKR-017": "pass", "BW-DKR-018": "pass", "BW-DKR-019": "pass", "BW-DKR-020": "pass", "BW-DKR-021": "pass", "BW-DKR-010": "pass"},
		open: {"BW-DKR-011": "fail", "BW-DKR-012": "fail", "BW-DKR-013": "fail", "BW-DKR-014": "fail", "BW-DKR-016": "fail",
			"BW-DKR-017": "fail", "BW-DKR-018": "fail", "BW-DKR-019": "fail", "BW-DKR-020": "fail", "BW-DKR-010": "pass"},
	}
	for name, checks := range want {
		for id, w := range checks {
			if got := status[name][id]; got != w {
				t.Errorf("%s %s: %q, want %q", name, id, got, w)
			}
		}
	}
	// The daemon itself: its seccomp default is on; the files exist.
	daemon := map[string]string{}
	for _, r := range rep.Results {
		if r.Object.Kind == "DockerDaemon" {
			daemon[r.CheckID] = r.Status
		}
	}
	if daemon["BW-DKR-004"] != "pass" || daemon["BW-DKR-009"] == "" {
		t.Errorf("daemon results: %v", daemon)
	}
	// The saved snapshot gives the same verdicts offline.
	code, out2, errOut := run(t, nil, "check", "docker", "--format", "json", "--state", state)
	if code != 0 {
		t.Fatalf("--state: %s", errOut)
	}
	var rep2 report.CheckReport
	json.Unmarshal([]byte(out2), &rep2)
	if rep2.Summary.Failed != rep.Summary.Failed || rep2.Summary.Passed != rep.Summary.Passed {
		t.Errorf("snapshot %+v, live %+v", rep2.Summary, rep.Summary)
	}
}
