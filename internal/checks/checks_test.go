package checks

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

// exampleEnv configures the site-dependent checks so every example runs.
func exampleEnv() *Env {
	e := DefaultEnv()
	e.EgressProxies = []string{"10.0.99.0/24"}
	return e
}

func exampleFile(c *Check) string {
	switch c.Target {
	case TargetDockerfile:
		return "Dockerfile"
	case TargetCompose:
		return "compose.yaml"
	}
	return "example.yaml"
}

// TestEveryCheck runs every check's good and bad examples and checks its
// metadata: stable ID format, uniqueness, complete text, references.
func TestEveryCheck(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	idFormat := regexp.MustCompile(`^BW-(INP|K8S|NET|STO|DF|CMP|IMG|DKR)-[0-9]{3}$`)
	seen := map[string]bool{}
	for _, c := range all {
		t.Run(c.ID, func(t *testing.T) {
			if !idFormat.MatchString(c.ID) || seen[c.ID] {
				t.Fatalf("bad or duplicate ID %q", c.ID)
			}
			seen[c.ID] = true
			if c.Title == "" || c.Description == "" || c.Remediation == "" || c.Good == "" || c.Bad == "" || c.Target == "" {
				t.Fatalf("incomplete metadata: %+v", c)
			}
			if (c.set == nil) == (c.check == nil) || (c.check != nil && c.applies == nil) {
				t.Fatal("a check needs exactly one of check (with applies) or set")
			}
			for _, ex := range []struct {
				name, src string
				fail      bool
			}{{"good", c.Good, false}, {"bad", c.Bad, true}} {
				objs, errs := Parse(exampleFile(c), []byte(ex.src))
				if c.Target == TargetImage {
					var err error
					if objs, err = ParseImageState("image.json", []byte(ex.src)); err != nil {
						errs = []LoadError{{Err: err.Error()}}
					}
				}
				if c.Target == TargetDocker {
					var err error
					if objs, err = ParseDockerState("state.json", []byte(ex.src)); err != nil {
						errs = []LoadError{{Err: err.Error()}}
					}
				}
				if (len(errs) > 0 && c.Target != TargetInput) || len(objs) == 0 {
					t.Fatalf("%s example does not load: %v", ex.name, errs)
				}
				rs, err := Run(context.Background(), []*Check{c}, objs, exampleEnv(), nil)
				if err != nil {
					t.Fatal(err)
				}
				fails, passes := 0, 0
				for _, r := range rs {
					switch r.Status {
					case "fail":
						fails++
						if r.Message == "" || r.Line == 0 {
							t.Errorf("%s: failure without message or line: %+v", ex.name, r)
						}
					case "pass":
						passes++
					}
				}
				if ex.fail && fails == 0 {
					t.Errorf("bad example passes: %+v", rs)
				}
				if !ex.fail && (fails > 0 || passes == 0) {
					t.Errorf("good example: %d failures, %d passes: %+v", fails, passes, rs)
				}
			}
		})
	}
}

// TestDocsCurrent keeps docs/checks.md equal to what the registry
// generates (go run ./tools/checkdocs > docs/checks.md).
func TestDocsCurrent(t *testing.T) {
	var b strings.Builder
	if err := WriteDocs(&b); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "checks.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != b.String() {
		t.Error("docs/checks.md is stale: run go run ./tools/checkdocs > docs/checks.md")
	}
}

func TestFrameworks(t *testing.T) {
	fws, err := Frameworks()
	if err != nil {
		t.Fatal(err)
	}
	if len(fws) < 7 {
		t.Fatalf("%d frameworks", len(fws))
	}
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	mapped := 0
	for _, c := range all {
		if len(c.References) > 0 {
			mapped++
		}
	}
	if mapped < len(all)*3/4 {
		t.Errorf("only %d of %d checks map to a framework control", mapped, len(all))
	}
}

func FuzzParse(f *testing.F) {
	f.Add("pod.yaml", []byte(hardenedPod))
	f.Add("Dockerfile", []byte(hardenedDockerfile))
	f.Add("compose.yaml", []byte(hardenedCompose))
	f.Add("list.yaml", []byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: c, image: x}]}\n"))
	all, err := All()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string, b []byte) {
		objs, _ := Parse(name, b)
		for _, r := range mustRun(t, all, objs, exampleEnv(), nil) {
			if r.Status == "fail" && r.Message == "" {
				t.Fatalf("failure without a message: %+v", r)
			}
		}
	})
}

// TestWorkloadKinds finds the pod template of every workload kind.
func TestWorkloadKinds(t *testing.T) {
	pod := strings.SplitN(hardenedPod, "spec:\n", 2)[1]
	indent := func(s, pre string) string {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			b.WriteString(pre + l + "\n")
		}
		return b.String()
	}
	template := "  template:\n    metadata: {labels: {app: web}}\n    spec:\n" + indent(pod, "    ")
	docs := map[string]string{
		"Deployment":  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n" + template,
		"StatefulSet": "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n" + template,
		"DaemonSet":   "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec:\n" + template,
		"ReplicaSet":  "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs}\nspec:\n" + template,
		"Job":         "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n" + template,
		"Rollout":     "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n" + template,
		"CronJob":     "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec:\n  schedule: \"* * * * *\"\n  jobTemplate:\n    spec:\n" + indent(template, "    "),
	}
	all, _ := All()
	for kind, src := range docs {
		objs, errs := Parse(kind+".yaml", []byte(src))
		if len(errs) > 0 || len(objs) != 1 || objs[0].pod == nil || len(objs[0].containers) != 1 {
			t.Errorf("%s: no pod template found (%v)", kind, errs)
			continue
		}
		for _, r := range mustRun(t, all, objs, DefaultEnv(), nil) {
			if r.Status == "fail" && strings.HasPrefix(r.CheckID, "BW-K8S-") {
				t.Errorf("%s: hardened template fails %s: %s", kind, r.CheckID, r.Message)
			}
		}
	}
}

// mustRun runs checks with no deadline; an error fails the test (or
// panics, with no test at hand).
func mustRun(t testing.TB, cs []*Check, objs []*Object, env *Env, exc Exceptions) []Result {
	rs, err := Run(context.Background(), cs, objs, env, exc)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatal(err)
	}
	return rs
}
