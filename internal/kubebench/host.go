package kubebench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Local is the machine bulwark runs on, read as kube-bench reads it:
// processes from /proc (what `ps -C NAME -o cmd` shows), files by stat,
// audit commands through /bin/sh.
type Local struct {
	// Proc is the proc filesystem ("/proc" when empty).
	Proc string
	// Timeout bounds each audit command (30 s when zero): a command
	// that hangs is an error for its check, not a stuck run.
	Timeout time.Duration
}

// Running is kube-bench's test for a running program: a process whose
// name (the kernel's, at most 15 characters) is the first word of bin
// and whose command line starts with bin after any directory.
func (l Local) Running(bin string) bool { return l.pid(bin) != "" }

// pid is the first process running bin, as Running judges it.
func (l Local) pid(bin string) string {
	bin = strings.Trim(bin, `'"`)
	f := strings.Fields(bin)
	if len(f) == 0 {
		return ""
	}
	proc := l.Proc
	if proc == "" {
		proc = "/proc"
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return ""
	}
	first := regexp.MustCompile(`^(\S*/)*` + regexp.QuoteMeta(bin))
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(proc, e.Name(), "comm"))
		if err != nil || strings.TrimSuffix(string(comm), "\n") != f[0] {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(proc, e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		line := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
		if first.MatchString(line) {
			return e.Name()
		}
	}
	return ""
}

// Exists reports whether path is there.
func (Local) Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Shell runs script with /bin/sh, reading it from stdin as kube-bench does.
func (l Local) Shell(ctx context.Context, script string) (string, error) {
	timeout := l.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v", timeout)
	}
	if err != nil {
		return out.String(), fmt.Errorf("failed to run: %q, output: %q, error: %s", script, out.String(), err)
	}
	return out.String(), nil
}

var kubeVersion = regexp.MustCompile(`Kubernetes (v\d+\.\d+\S*)`)

// DetectVersion finds the Kubernetes version from a running API server
// or kubelet (the first of config.yaml's names for them that runs):
// its executable's --version.
func DetectVersion(ctx context.Context, cfg *Config, l Local) (string, error) {
	var candidates []string
	for _, p := range [][2]string{{"master", "apiserver"}, {"controlplane", "apiserver"}, {"node", "kubelet"}} {
		s, _ := cfg.section(p[0])[p[1]].(map[string]any)
		for _, b := range stringList(s["bins"]) {
			if !slices.Contains(candidates, b) {
				candidates = append(candidates, b)
			}
		}
	}
	proc := l.Proc
	if proc == "" {
		proc = "/proc"
	}
	for _, bin := range candidates {
		pid := l.pid(bin)
		if pid == "" {
			continue
		}
		exe, err := os.Readlink(filepath.Join(proc, pid, "exe"))
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, _ := exec.CommandContext(ctx, exe, "--version").CombinedOutput()
		cancel()
		if m := kubeVersion.FindSubmatch(out); m != nil {
			return string(m[1]), nil
		}
	}
	return "", fmt.Errorf("no running API server or kubelet to ask for the Kubernetes version (looked for %s); give --version or --benchmark", strings.Join(candidates, ", "))
}
