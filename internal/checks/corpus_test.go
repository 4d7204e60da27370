package checks

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/testenv"
)

func failingChecks(rs []Result) map[string]bool {
	out := map[string]bool{}
	for _, r := range rs {
		if r.Status == "fail" {
			out[r.CheckID] = true
		}
	}
	return out
}

// TestHelmRenderedVariants: the Online Boutique chart rendered with
// default values lacks default-deny policies and seccomp; rendered with
// networkPolicies.create and seccompProfile.enable it has them. The
// checks that fail in one and not the other must be exactly those.
func TestHelmRenderedVariants(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	run := func(file string) map[string]bool {
		objs, errs := Load([]string{testenv.CorpusPath(t, "k8s", "helm-rendered", file)}, nil)
		if len(errs) > 0 || len(objs) < 30 {
			t.Fatalf("%s: %d objects, %v", file, len(objs), errs)
		}
		return failingChecks(mustRun(t, all, objs, DefaultEnv(), nil))
	}
	def := run("microservices-demo.default-values.yaml")
	hard := run("microservices-demo.netpol-seccomp.yaml")
	var onlyDefault, onlyHardened []string
	for id := range def {
		if !hard[id] {
			onlyDefault = append(onlyDefault, id)
		}
	}
	for id := range hard {
		if !def[id] {
			onlyHardened = append(onlyHardened, id)
		}
	}
	sort.Strings(onlyDefault)
	sort.Strings(onlyHardened)
	if diff := cmp.Diff([]string{"BW-K8S-007", "BW-NET-001", "BW-NET-002"}, onlyDefault); diff != "" {
		t.Errorf("checks failing only in the default render (-want +got):\n%s", diff)
	}
	if len(onlyHardened) > 0 {
		t.Errorf("checks failing only in the hardened render: %v", onlyHardened)
	}
}

// TestCorpusRunsClean loads every manifest, Dockerfile and compose file of
// the corpus: nothing panics, the invalid YAML files are reported by name
// and the run carries on.
func TestCorpusRunsClean(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{
		testenv.CorpusPath(t, "k8s"),
		testenv.CorpusPath(t, "dockerfiles"),
		testenv.CorpusPath(t, "compose"),
	}
	objs, errs := Load(paths, nil)
	rs, err := Run(context.Background(), all, objs, DefaultEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
	}
	if kinds["Dockerfile"] < 190 || kinds["ComposeFile"] < 35 || kinds["Deployment"] < 50 {
		t.Errorf("objects loaded: %v", kinds)
	}
	if len(rs) < 1000 {
		t.Errorf("only %d results", len(rs))
	}
	// The corpus README names the invalid YAML: five *-template.yaml files
	// of kubernetes/examples/_archived and one kubescape input.
	var templates int
	for _, e := range errs {
		if strings.Contains(e.File, "_archived") && strings.HasSuffix(e.File, "-template.yaml") {
			templates++
		}
		if e.File == "" || e.Err == "" {
			t.Errorf("load error without file or reason: %+v", e)
		}
	}
	if templates != 5 {
		var names []string
		for _, e := range errs {
			names = append(names, e.File)
		}
		t.Errorf("%d of the 5 invalid template files reported; errors: %v", templates, names)
	}
}
