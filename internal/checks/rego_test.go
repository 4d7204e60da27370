package checks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/testenv"
)

func TestRegoPolicies(t *testing.T) {
	custom, err := LoadRego(context.Background(), filepath.Join(testenv.RepoRoot(t), "testdata", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*Check{}
	for _, c := range custom {
		byID[c.ID] = c
	}
	if len(custom) != 2 || byID["ACME-001"] == nil || byID["ACME-002"] == nil || byID["ACME-002"].Target != TargetDockerfile {
		t.Fatalf("loaded %d checks: %v", len(custom), byID)
	}
	objs, errs := Load([]string{testenv.CorpusPath(t, "k8s", "helm-rendered", "microservices-demo.default-values.yaml")}, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	df, _ := Parse("Dockerfile", []byte("FROM debian:12\nRUN apt-get update && apt-get upgrade -y\nUSER 1000\n"))
	objs = append(objs, df...)
	rs, err := Run(context.Background(), custom, objs, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fails, passes := 0, 0
	for _, r := range rs {
		switch {
		case r.CheckID == "ACME-001" && r.Status == "fail":
			fails++
			if !strings.Contains(r.Message, "has no team label") || r.Severity.String() != "MEDIUM" {
				t.Errorf("result %+v", r)
			}
		case r.CheckID == "ACME-001" && r.Status == "pass":
			passes++
		case r.CheckID == "ACME-002":
			if r.Status != "fail" || r.Line != 2 {
				t.Errorf("ACME-002 on the Dockerfile: %+v", r)
			}
		}
	}
	// The chart's Deployments have no team label; its Services are not
	// workloads and pass.
	if fails < 10 || passes == 0 {
		t.Errorf("ACME-001: %d failures, %d passes", fails, passes)
	}
}

func TestRegoPolicyErrors(t *testing.T) {
	for name, src := range map[string]string{
		"syntax":      "package x\ndeny contains msg if {",
		"no metadata": "package x\ndeny contains \"m\" if { true }\n",
		"reserved id": "package x\nmetadata := {\"id\": \"BW-K8S-001\", \"title\": \"t\", \"severity\": \"LOW\"}\ndeny contains \"m\" if { false }\n",
		"bad target":  "package x\nmetadata := {\"id\": \"X-1\", \"title\": \"t\", \"severity\": \"LOW\", \"target\": \"mainframe\"}\ndeny contains \"m\" if { false }\n",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "p.rego"), []byte(src), 0o644)
		if _, err := LoadRego(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "p.rego") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// BenchmarkRunWithRego measures what a custom Rego check adds to a run
// over the corpus's manifests: compare with BenchmarkRunBuiltin.
func BenchmarkRunWithRego(b *testing.B) {
	custom, err := LoadRego(context.Background(), filepath.Join(testenv.RepoRoot(b), "testdata", "policies"))
	if err != nil {
		b.Fatal(err)
	}
	benchRun(b, custom)
}

func BenchmarkRunBuiltin(b *testing.B) { benchRun(b, nil) }

func benchRun(b *testing.B, extra []*Check) {
	all, err := All()
	if err != nil {
		b.Fatal(err)
	}
	objs, _ := Load([]string{testenv.CorpusPath(b, "k8s")}, nil)
	checks := append(append([]*Check(nil), all...), extra...)
	b.ResetTimer()
	for b.Loop() {
		Run(context.Background(), checks, objs, DefaultEnv(), nil)
	}
}

// BenchmarkLoad measures reading the corpus's manifests as kubectl does.
func BenchmarkLoad(b *testing.B) {
	dir := testenv.CorpusPath(b, "k8s")
	for b.Loop() {
		Load([]string{dir}, nil)
	}
}

// TestRunHonoursDeadline: a Rego policy that would run for minutes is
// stopped by the context's deadline, and Run reports the deadline rather
// than a partial verdict; a cancelled context stops the built-in checks.
func TestRunHonoursDeadline(t *testing.T) {
	dir := t.TempDir()
	slow := `package acme.slow

metadata := {"id": "ACME-900", "title": "slow", "severity": "LOW", "target": "kubernetes"}

deny contains msg if {
	some i in numbers.range(1, 2000000000)
	i < 0
	msg := "never"
}
`
	if err := os.WriteFile(filepath.Join(dir, "slow.rego"), []byte(slow), 0o644); err != nil {
		t.Fatal(err)
	}
	custom, err := LoadRego(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := Parse("pod.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: x}]\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rs, err := Run(ctx, custom, objs, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || rs != nil {
		t.Errorf("Run = %d results, %v; want the deadline and no results", len(rs), err)
	}

	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	if rs, err := Run(cancelled, all, objs, nil, nil); !errors.Is(err, context.Canceled) || rs != nil {
		t.Errorf("Run on a cancelled context = %d results, %v", len(rs), err)
	}
}
