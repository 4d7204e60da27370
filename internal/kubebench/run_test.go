package kubebench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/testenv"
)

// testCfg builds a kube-bench cfg directory: the corpus's config.yaml,
// edited as an operator edits it for an installation (where the
// binaries and files are), and the corpus's cis-1.12 controls.
func testCfg(t *testing.T, edit func(map[string]any)) string {
	t.Helper()
	src := testenv.CorpusPath(t, "cis/kube-bench/cfg")
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(src, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := yaml.Marshal(m)
	os.WriteFile(filepath.Join(dir, "config.yaml"), out, 0o644)
	if err := os.Symlink(filepath.Join(src, "cis-1.12"), filepath.Join(dir, "cis-1.12")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func set(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

func states(rep *Report) map[string]State {
	out := map[string]State{}
	for _, c := range rep.Controls {
		for _, g := range c.Groups {
			for _, r := range g.Results {
				out[r.ID] = r.State
			}
		}
	}
	return out
}

// TestControlPlaneOnRealServers runs the master, etcd and controlplane
// targets of CIS 1.12, read from kube-bench's own files, on a real
// kube-apiserver and etcd (their processes' command lines, etcd's data
// directory) and a pod specification file, and the node target on a
// kubelet configuration directory the test builds, with a stand-in
// process carrying a kubelet's command line (no kubelet can run here).
// Each verdict is the one kube-bench's rules give for these inputs:
// kube-bench itself cannot be built on this machine (the module proxy
// refuses github.com/aquasecurity/kube-bench), so the expectations are
// written from its documented rules, check by check.
func TestControlPlaneOnRealServers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("file ownership checks expect root:root files; CI runs as root")
	}
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	api, etcd, kubelet := "kapi-bw"+suffix, "etcd-bw"+suffix, "kblt-bw"+suffix
	work := t.TempDir()
	k := testenv.KubeAPIServerWith(t, testenv.KubeOptions{APIServerName: api, EtcdName: etcd, APIServerArgs: []string{
		"--profiling=false", "--audit-log-path=" + filepath.Join(work, "audit.log"),
		"--audit-log-maxage=30", "--audit-log-maxbackup=5", "--audit-log-maxsize=200",
	}})
	podSpec := filepath.Join(work, "kube-apiserver.yaml")
	os.WriteFile(podSpec, []byte("apiVersion: v1\nkind: Pod\n"), 0o644)

	// The kubelet's directory: its configuration, kubeconfig and unit.
	kdir := filepath.Join(work, "kubelet")
	os.MkdirAll(kdir, 0o755)
	os.WriteFile(filepath.Join(kdir, "config.yaml"), []byte(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
readOnlyPort: 10255
streamingConnectionIdleTimeout: 4h0m0s
rotateCertificates: true
`), 0o600)
	os.WriteFile(filepath.Join(kdir, "kubelet.conf"), []byte("apiVersion: v1\nkind: Config\n"), 0o600)
	os.WriteFile(filepath.Join(kdir, "10-kubeadm.conf"), []byte("[Service]\n"), 0o644)
	prog := testenv.StaticProgram(t, "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n")
	link := filepath.Join(kdir, kubelet)
	os.Symlink(prog, link)
	cmd := exec.Command(link, "--config="+filepath.Join(kdir, "config.yaml"), "--kubeconfig="+filepath.Join(kdir, "kubelet.conf"), "--hostname-override=node-1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	cfgDir := testCfg(t, func(m map[string]any) {
		// Only the API server and etcd run here: the scheduler and the
		// controller manager are left out, as an operator would for
		// a control plane split over machines.
		set(m, "master.components", []any{"apiserver", "etcd", "kubernetes"})
		set(m, "master.apiserver.bins", []any{api})
		set(m, "master.apiserver.confs", []any{podSpec})
		set(m, "master.etcd.bins", []any{etcd})
		set(m, "etcd.etcd.bins", []any{etcd})
		set(m, "controlplane.apiserver.bins", []any{api})
		set(m, "node.kubelet.bins", []any{kubelet})
		set(m, "node.kubelet.confs", []any{filepath.Join(kdir, "config.yaml")})
		set(m, "node.kubelet.svc", []any{filepath.Join(kdir, "10-kubeadm.conf")})
		set(m, "node.kubelet.kubeconfig", []any{filepath.Join(kdir, "kubelet.conf")})
	})
	cfg, err := LoadConfig(cfgDir)
	if err != nil {
		t.Fatal(err)
	}
	version, err := DetectVersion(context.Background(), cfg, Local{})
	if err != nil || !strings.HasPrefix(version, "v1.") {
		t.Fatalf("version %q, %v", version, err)
	}
	rep, err := Run(context.Background(), cfg, Local{}, Options{KubeVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Benchmark != "cis-1.12" {
		t.Fatalf("benchmark %s for Kubernetes %s", rep.Benchmark, version)
	}
	got := states(rep)
	want := map[string]State{
		// The pod specification: 0644 is more than 600; root owns it.
		"1.1.1": Fail, "1.1.2": Pass,
		// etcd's data directory (from etcd's --data-dir): 0700, but
		// owned by root, not etcd.
		"1.1.11": Pass, "1.1.12": Fail,
		// The API server's command line.
		"1.2.1":  Warn, // --anonymous-auth not set: unscored
		"1.2.2":  Fail, // --token-auth-file is set
		"1.2.6":  Pass, // RBAC, not AlwaysAllow
		"1.2.7":  Fail, // no Node authorizer
		"1.2.8":  Pass,
		"1.2.10": Pass,                                                 // no --enable-admission-plugins: the "or" passes
		"1.2.15": Pass,                                                 // --profiling=false
		"1.2.16": Pass, "1.2.17": Pass, "1.2.18": Fail, "1.2.19": Pass, // audit log: maxbackup 5 < 10
		"1.2.20": Warn, // manual
		"1.2.22": Pass, // --service-account-key-file
		"1.2.24": Fail, // serving certificates from --cert-dir, not --tls-cert-file
		"1.2.30": Fail, // --service-account-extend-token-expiration not set to false
		// No controller manager or scheduler: their binary is not
		// substituted and the audit command fails.
		"1.3.1": Warn, "1.3.2": Fail, "1.4.1": Fail,
		// etcd without TLS.
		"2.1": Fail, "2.2": Fail, "2.3": Pass, "2.7": Warn,
		// Control plane: manual checks, no audit policy (unscored).
		"3.1.1": Warn, "3.2.1": Warn,
		// The kubelet's files.
		"4.1.1": Fail, "4.1.5": Pass, "4.1.6": Pass, "4.1.9": Pass, "4.1.10": Pass,
		// The kubelet: command line first, then its configuration file.
		"4.2.1":  Pass, // authentication.anonymous.enabled: false
		"4.2.2":  Pass, // authorization.mode: Webhook
		"4.2.3":  Pass, // x509.clientCAFile
		"4.2.4":  Warn, // readOnlyPort 10255 (unscored)
		"4.2.7":  Warn, // --hostname-override is set (unscored)
		"4.2.10": Pass, // rotateCertificates: true
	}
	for id, w := range want {
		if got[id] != w {
			var r *Result
			for _, c := range rep.Controls {
				for _, g := range c.Groups {
					for _, x := range g.Results {
						if x.ID == id {
							r = x
						}
					}
				}
			}
			if r != nil {
				t.Errorf("%s = %s, want %s (actual %q, expected %q, reason %q)", id, got[id], w, r.ActualValue, r.ExpectedResult, r.Reason)
			} else {
				t.Errorf("%s did not run", id)
			}
		}
	}
	if n := len(got); n < 120 {
		t.Errorf("%d checks ran, want every check of the four targets", n)
	}

	var text, js bytes.Buffer
	WriteText(&text, rep, TextOptions{})
	WriteJSON(&js, rep)
	for _, want := range []string{"[INFO] 1 Control Plane Security Configuration\n", "[FAIL] 1.1.1 Ensure that the API server pod specification file permissions are set to 600 or more restrictive (Automated)\n",
		"== Remediations master ==\n", "== Summary master ==\n", "== Summary total ==\n"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	_ = k
	if !strings.Contains(js.String(), `"test_number": "1.2.15"`) || !strings.Contains(js.String(), `"Totals"`) {
		t.Errorf("JSON report:\n%s", js.String()[:min(2000, js.Len())])
	}
}

// TestSelection: --check, --group and --skip.
func TestSelection(t *testing.T) {
	cfg, err := LoadConfig(testenv.CorpusPath(t, "cis/kube-bench/cfg"))
	if err != nil {
		t.Fatal(err)
	}
	fake := fakeHost{}
	rep, err := Run(context.Background(), cfg, fake, Options{Benchmark: "cis-1.12", Targets: []string{"controlplane"}, Skip: []string{"3.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]State{"3.1.1": Info, "3.1.2": Info, "3.1.3": Info, "3.2.1": Warn, "3.2.2": Warn}, states(rep)); d != "" {
		t.Error(d)
	}
	rep, _ = Run(context.Background(), cfg, fake, Options{Benchmark: "cis-1.12", Targets: []string{"controlplane"}, Checks: []string{"3.2.2"}})
	if len(states(rep)) != 1 {
		t.Errorf("--check ran %v", states(rep))
	}
	for _, o := range []Options{
		{Benchmark: "cis-1.12", Targets: []string{"nodes"}},
		{Benchmark: "cis-9.9"},
		{},
		{Benchmark: "cis-1.12", Checks: []string{"1"}, Groups: []string{"1.1"}},
	} {
		if _, err := Run(context.Background(), cfg, fake, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

// fakeHost runs nothing: every audit command fails, no program runs.
type fakeHost struct{}

func (fakeHost) Running(string) bool { return false }
func (fakeHost) Exists(string) bool  { return false }
func (fakeHost) Shell(context.Context, string) (string, error) {
	return "", fmt.Errorf("not run")
}
