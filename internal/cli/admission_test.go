package cli

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	"bulwark.dev/bulwark/internal/testenv"
)

// TestAdmissionInstallPrint: the configurations parse, fail closed,
// carry the CA, and leave out the namespaces a cluster needs to recover.
func TestAdmissionInstallPrint(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, nil, "admission", "install", "--print", "--url", "https://bulwark.bulwark.svc:8443", "--tls-generate", dir, "--hosts", "bulwark.bulwark.svc")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), out)
	}
	kinds := map[string]bool{}
	for _, d := range docs {
		var cfg struct {
			Kind     string
			Webhooks []struct {
				ClientConfig struct {
					URL      string `json:"url"`
					CABundle []byte `json:"caBundle"`
				} `json:"clientConfig"`
				FailurePolicy     string `json:"failurePolicy"`
				SideEffects       string `json:"sideEffects"`
				TimeoutSeconds    int    `json:"timeoutSeconds"`
				NamespaceSelector struct {
					MatchExpressions []struct {
						Key      string
						Operator string
						Values   []string
					} `json:"matchExpressions"`
				} `json:"namespaceSelector"`
			}
		}
		if err := yaml.Unmarshal([]byte(d), &cfg); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		kinds[cfg.Kind] = true
		w := cfg.Webhooks[0]
		if w.FailurePolicy != "Fail" || w.SideEffects != "NoneOnDryRun" || w.TimeoutSeconds != 10 || string(w.ClientConfig.CABundle) != string(ca) ||
			!strings.HasPrefix(w.ClientConfig.URL, "https://bulwark.bulwark.svc:8443/admission/") {
			t.Errorf("%s: %+v", cfg.Kind, w)
		}
		if got := toJSONString(w.NamespaceSelector); !strings.Contains(got, `"kube-system"`) || !strings.Contains(got, `"bulwark"`) {
			t.Errorf("%s leaves out only %s", cfg.Kind, got)
		}
	}
	if !kinds["ValidatingWebhookConfiguration"] || !kinds["MutatingWebhookConfiguration"] {
		t.Errorf("kinds %v", kinds)
	}
	for args, want := range map[string]string{
		"--url http://x:1 --ca-file " + filepath.Join(dir, "tls", "ca.crt") + " --print": "HTTPS only",
		"--url https://x:1 --print": "no CA",
		"--url https://x:1 --ca-file " + filepath.Join(dir, "tls", "ca.crt"): "--print",
	} {
		code, _, errOut := run(t, nil, append([]string{"admission", "install"}, strings.Fields(args)...)...)
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d, %q lacks %q", args, code, errOut, want)
		}
	}
}

func toJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAdmissionAudit lists what a real kube-apiserver runs (no webhook
// registered: the workloads got in before the policy) and reports which
// the policy refuses today, in every format.
func TestAdmissionAudit(t *testing.T) {
	kube := testenv.KubeAPIServer(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img := testenv.OneLayerImage(t, testenv.TarFile{Name: "app", Mode: 0o755, Body: "app"})
	ref, _ := name.ParseReference(host + "/shop/app:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	env := map[string]string{"BULWARK_PASSWORD": "pw"}
	if code, _, errOut := run(t, env, "key", "generate", "--output-prefix", filepath.Join(dir, "k")); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := run(t, env, "sign", ref.String(), "--key", filepath.Join(dir, "k.key")); code != 0 {
		t.Fatal(errOut)
	}
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("rules:\n  - pattern: \""+host+"/shop/*\"\n    keys: [k.pub]\nadmission:\n  namespaces: [{namespace: dev, mode: warn}]\n  exemptions: [{namespace: legacy, reason: \"migrating, SEC-9\"}]\n"), 0o644)
	for _, ns := range []string{"shop", "dev", "legacy"} {
		kube.Namespace(t, ns, nil)
	}
	good := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"automountServiceAccountToken":false,"securityContext":{"runAsNonRoot":true,"runAsUser":10001,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"app","image":"` + ref.String() + `","securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}},"resources":{"limits":{"cpu":"1","memory":"64Mi"}}}]}}`
	bad := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"root"},"spec":{"containers":[{"name":"app","image":"` + ref.String() + `","securityContext":{"privileged":true}}]}}`
	deploy := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"hostNetwork":true,"containers":[{"name":"api","image":"` + host + `/other/api:1"}]}}}}`
	for _, c := range []struct{ ns, path, body string }{
		{"shop", "/api/v1/namespaces/shop/pods", good},
		{"shop", "/api/v1/namespaces/shop/pods", bad},
		{"dev", "/api/v1/namespaces/dev/pods", bad},
		{"legacy", "/api/v1/namespaces/legacy/pods", bad},
		{"shop", "/apis/apps/v1/namespaces/shop/deployments", deploy},
	} {
		if code, body := kube.Do(t, "POST", c.path, []byte(c.body)); code != 201 {
			t.Fatalf("create in %s: %d %s", c.ns, code, body)
		}
	}
	code, out, errOut := run(t, nil, "admission", "audit", "--kubeconfig", kube.Kubeconfig, "--policy", pol)
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d: %s\n%s", code, ExitFindings, errOut, out)
	}
	for _, want := range []string{"shop       Pod/web", "admitted", "Pod/root        refused", "refused (warn)", "exempt", "Deployment/api", "BW-K8S-011", "image " + host + "/other/api:1 does not exist in its registry", "5 workloads: 1 admitted, 1 exempt, 3 refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = run(t, nil, "admission", "audit", "--kubeconfig", kube.Kubeconfig, "--policy", pol, "--format", "policyreport")
	if code != ExitFindings {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var list struct {
		Kind  string
		Items []struct {
			APIVersion, Kind string
			Metadata         struct{ Name, Namespace string }
			Summary          map[string]int
			Results          []struct {
				Rule, Result, Severity string
				Resources              []struct{ Kind, Name, UID string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	summaries := map[string]map[string]int{}
	for _, it := range list.Items {
		if it.APIVersion != "wgpolicyk8s.io/v1alpha2" || it.Kind != "PolicyReport" || it.Metadata.Namespace == "" {
			t.Errorf("report %+v", it)
		}
		summaries[it.Metadata.Namespace] = it.Summary
		for _, r := range it.Results {
			if len(r.Resources) != 1 || r.Resources[0].UID == "" {
				t.Errorf("result without its resource's uid: %+v", r)
			}
		}
	}
	if s := summaries["shop"]; s["pass"] != 1 || s["fail"] < 4 {
		t.Errorf("shop summary %v", s)
	}
	if s := summaries["dev"]; s["warn"] < 3 || s["fail"] != 0 {
		t.Errorf("dev summary %v", s)
	}
	if s := summaries["legacy"]; s["skip"] != 1 {
		t.Errorf("legacy summary %v", s)
	}
	// The report can be applied as is where the CRD is installed; here
	// at least it must be what kubectl reads as a List.
	if out2, err := kube.Kubectl(t, out, "apply", "--dry-run=client", "--validate=false", "-f", "-"); err != nil && !strings.Contains(out2, "no matches for kind") {
		t.Errorf("kubectl cannot read the report: %v\n%s", err, out2)
	}
	code, _, errOut = run(t, nil, "admission", "audit", "--kubeconfig", filepath.Join(dir, "missing"), "--policy", pol)
	if code != ExitError || !strings.Contains(errOut, "kubeconfig") {
		t.Errorf("missing kubeconfig: exit %d, %s", code, errOut)
	}
}

// TestWatchRulesReport loads Falco's own files beside a broken one: each
// rule is reported, the broken items are named with file and line, the
// rest loads, and the exit code says a file had broken items.
func TestWatchRulesReport(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad_rules.yaml")
	os.WriteFile(bad, []byte("- rule: broken\n  condition: proc.name in (a\n  output: x\n  priority: INFO\n- rule: typo\n  conditon: x\n"), 0o644)
	args := []string{"watch", "--rules-report"}
	for _, f := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		args = append(args, "--rules", testenv.CorpusPath(t, "runtime", "falco", f))
	}
	code, out, errOut := run(t, nil, append(args, "--rules", bad)...)
	if code != ExitFindings {
		t.Fatalf("exit %d, want %d: %s", code, ExitFindings, errOut)
	}
	for _, want := range []string{"bad_rules.yaml:1: rule \"broken\"", "bad_rules.yaml:5: rule \"typo\": unknown key \"conditon\""} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	for _, want := range []string{"Terminal shell in container", "Drifted binary executed (bulwark)", "not evaluable  field fd.sip.name", "broken items"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	code, out, _ = run(t, nil, append(args, "--format", "json")...)
	var rep struct {
		Rules []struct {
			Name    string
			Problem string
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Rules) < 90 {
		t.Errorf("json report: exit %d, %d rules", code, len(rep.Rules))
	}
}
