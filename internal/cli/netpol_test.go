package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestNetpolAnalyze runs the command on Online Boutique's manifests and
// policies from the corpus, with a broken file and a refused policy
// beside them: the good input is analysed, each bad one named, and the
// exit status says the matrix is incomplete.
func TestNetpolAnalyze(t *testing.T) {
	demo := testenv.CorpusPath(t, "k8s", "microservices-demo")
	manifests := filepath.Join(demo, "release", "kubernetes-manifests.yaml")
	policies := filepath.Join(demo, "kustomize", "components", "network-policies")

	code, out, errOut := run(t, nil, "netpol", "analyze", manifests, policies, "--format", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Endpoints   []struct{ ID string }
		Connections []struct{ From, To, Allowed string }
		Warnings    []struct{ Message string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range rep.Connections {
		got[c.From+" -> "+c.To] = c.Allowed
	}
	for pair, want := range map[string]string{
		"default/frontend -> default/cartservice":      "TCP 7070",
		"default/cartservice -> default/redis-cart":    "TCP 6379",
		"default/loadgenerator -> default/cartservice": "",
		"outside:0.0.0.0/0 -> default/frontend":        "all",
	} {
		if got[pair] != want {
			t.Errorf("%s: %q, want %q", pair, got[pair], want)
		}
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %v", rep.Warnings)
	}

	code, out, _ = run(t, nil, "netpol", "analyze", manifests, policies, "--from", "default/frontend", "--to", "default/cartservice")
	if code != ExitOK || !strings.Contains(out, "default/frontend -> default/cartservice: TCP 7070") || !strings.Contains(out, "network-policy-cartservice.yaml") {
		t.Errorf("explain: exit %d\n%s", code, out)
	}

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("kind: [\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "refused.yaml"), []byte("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad}\nspec: {podSelector: {matchExpressions: [{key: app, operator: Like}]}}\n"), 0o644)
	code, _, errOut = run(t, nil, "netpol", "analyze", manifests, policies, dir, "--format", "dot", "--output", filepath.Join(dir, "g.dot"))
	if code != ExitError {
		t.Errorf("with an unreadable file: exit %d, want %d", code, ExitError)
	}
	for _, want := range []string{"broken.yaml:1", "refused.yaml:1: NetworkPolicy default/bad: the API server refuses this policy"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "g.dot")); !strings.Contains(string(b), "digraph") || !strings.Contains(string(b), `label="TCP:7070"`) {
		t.Errorf("dot output:\n%s", b)
	}

	os.Remove(filepath.Join(dir, "broken.yaml"))
	if code, _, _ = run(t, nil, "netpol", "analyze", manifests, dir, "--exit-code", "3", "--format", "html", "--output", filepath.Join(dir, "m.html")); code != 3 {
		t.Errorf("--exit-code 3 with a warning: exit %d", code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "m.html")); !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "the API server refuses") {
		t.Errorf("html output lacks the matrix or the warning")
	}
	if code, _, errOut = run(t, nil, "netpol", "analyze", manifests, "--from", "default/nope", "--to", "default/frontend"); code != ExitError || !strings.Contains(errOut, `no workload or address "default/nope"`) {
		t.Errorf("unknown --from: exit %d: %s", code, errOut)
	}
	if code, _, errOut = run(t, nil, "netpol", "analyze", manifests, "--format", "svg"); code != ExitError || !strings.Contains(errOut, "--format") {
		t.Errorf("bad format: exit %d: %s", code, errOut)
	}
}
