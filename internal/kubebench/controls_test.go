package kubebench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestEveryCorpusControlsFileParses: all of kube-bench's benchmark
// definitions (CIS 1.5 to 1.12, EKS, GKE, AKS, k3s, RKE, OpenShift, …)
// read, with their checks, except two that kube-bench itself misreads
// without a word: an operator typo that makes a check always fail, and
// a remediation and "scored" indented into the tests, which kube-bench
// drops (the check then counts as not scored).
func TestEveryCorpusControlsFileParses(t *testing.T) {
	broken := map[string]string{
		"k3s-cis-1.9/node.yaml": `check 4.2.5: unknown compare op "noteqx"`,
		"rh-0.7/node.yaml":      "field remediation not found",
	}
	dir := testenv.CorpusPath(t, "cis/kube-bench/cfg")
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.yaml"))
	checks := 0
	for _, f := range files {
		if filepath.Base(f) == "config.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseControls(f, b)
		rel, _ := filepath.Rel(dir, f)
		if want, ok := broken[rel]; ok {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: err = %v, want %q", rel, err, want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, g := range c.Groups {
			checks += len(g.Checks)
		}
	}
	if len(files) < 150 || checks < 3000 {
		t.Errorf("%d files, %d checks read", len(files), checks)
	}
	for _, b := range cfg.Benchmarks() {
		if _, err := cfg.Targets(b); err != nil {
			t.Error(err)
		}
	}
}

func TestBenchmarkForVersion(t *testing.T) {
	cfg, err := LoadConfig(testenv.CorpusPath(t, "cis/kube-bench/cfg"))
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]string{"1.28": "cis-1.10", "v1.37.2": "cis-1.12", "1.26": "cis-1.8", "1.15": "cis-1.5", "1.19+": "cis-1.20"} {
		got, err := cfg.Benchmark(v)
		if err != nil || got != want {
			t.Errorf("Benchmark(%s) = %q, %v; want %q", v, got, err, want)
		}
	}
	if _, err := cfg.Benchmark("1.1"); err == nil {
		t.Error("Kubernetes 1.1 has a benchmark")
	}
}

func TestParseControlsErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"unknown key", "id: 1\ntype: master\ngroups:\n- id: 1.1\n  checks:\n  - id: 1.1.1\n    audti: ps\n", "audti"},
		{"bad op", "id: 1\ntype: master\ngroups:\n- id: 1.1\n  checks:\n  - id: 1.1.1\n    tests:\n      test_items:\n      - flag: x\n        compare: {op: equals, value: y}\n", `unknown compare op "equals"`},
		{"bad bin_op", "id: 1\ntype: master\ngroups:\n- id: 1.1\n  checks:\n  - id: 1.1.1\n    tests:\n      bin_op: xor\n      test_items:\n      - flag: x\n", `bin_op "xor"`},
		{"duplicate", "id: 1\ntype: master\ngroups:\n- id: 1.1\n  checks:\n  - id: 1.1.1\n  - id: 1.1.1\n", "defined twice"},
		{"empty test item", "id: 1\ntype: master\ngroups:\n- id: 1.1\n  checks:\n  - id: 1.1.1\n    tests:\n      test_items:\n      - set: false\n", "no flag, path or env"},
		{"not controls", "foo: 1\n", "foo"},
		{"empty", "", "empty controls file"},
		{"no type", "id: 1\n", "no id or type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseControls("master.yaml", []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "master.yaml") {
				t.Fatalf("err = %v, want %q naming the file", err, tc.want)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	got := substitute("ps -ef | grep $apiserverbin; stat $kubeletconf $kubeletkubeconfig", map[string]string{
		"apiserverbin": "hyperkube apiserver", "kubeletconf": "/var/lib/kubelet/config.yaml", "kubeletkubeconfig": "/etc/kubernetes/kubelet.conf",
	})
	want := "ps -ef | grep 'hyperkube apiserver'; stat /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// FuzzParseControls: any controls file either fails to parse with an
// error or runs (on a host where nothing runs) without a panic.
func FuzzParseControls(f *testing.F) {
	for _, s := range []string{
		"id: 1\ntype: master\ngroups:\n- id: 1.1\n  checks:\n  - id: 1.1.1\n    audit: ps\n    tests:\n      test_items:\n      - flag: --x\n        compare: {op: bitmask, value: \"600\"}\n    scored: true\n",
		"id: 4\ntype: node\ngroups:\n- id: 4.2\n  checks:\n  - id: 4.2.1\n    audit_config: cat x\n    tests:\n      bin_op: or\n      test_items:\n      - path: '{.a.b}'\n        set: false\n      - env: X\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseControls("fuzz.yaml", b)
		if err != nil {
			return
		}
		runControls(context.Background(), c, fakeHost{}, Options{})
	})
}

// FuzzFind: flag, path and env lookups on any audit output.
func FuzzFind(f *testing.F) {
	f.Add("--a=1 --b", "--b", "{.x}", "X", "eq", "1")
	f.Add("x: [1, 2]\n", "x", "{.x[0]}", "", "valid_elements", "1,2")
	f.Fuzz(func(t *testing.T, out, flag, path, env, op, value string) {
		ti := &TestItem{Flag: flag, Path: path, Env: env, Set: true, Compare: Compare{Op: op, Value: value}}
		for _, src := range []source{fromCommand, fromConfig, fromEnv} {
			ti.execute(out, src, true)
		}
	})
}
