package server

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/admission"
	"bulwark.dev/bulwark/internal/audit"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/sign"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/testenv"
)

// compliantPod passes every hardening check the webhook enforces.
func compliantPod(ns, name, image string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"` + ns + `"},"spec":{"automountServiceAccountToken":false,
"securityContext":{"runAsNonRoot":true,"runAsUser":10001,"seccompProfile":{"type":"RuntimeDefault"}},
"containers":[{"name":"app","image":"` + image + `","securityContext":{"allowPrivilegeEscalation":false,"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}},
"resources":{"limits":{"cpu":"1","memory":"128Mi"},"requests":{"cpu":"100m","memory":"64Mi"}}}]}}`
}

func privilegedPod(ns, name, image string) string {
	return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `","namespace":"` + ns + `"},"spec":{"containers":[{"name":"app","image":"` + image + `","securityContext":{"privileged":true}}]}}`
}

// TestAdmissionThroughKubeAPIServer registers bulwark serve's webhook with
// a real kube-apiserver (on a real etcd) and creates workloads through
// kubectl and the API: what the registry refuses, the cluster refuses.
func TestAdmissionThroughKubeAPIServer(t *testing.T) {
	kube := testenv.KubeAPIServer(t)
	vdb := goVulnDB(t)
	cfg, err := admission.ParseConfig([]byte(`{"namespaces":[{"namespace":"warned","mode":"warn"},{"namespace":"audited","mode":"audit"}],
		"mutate":{"defaults":["hardened"]},"exec":{"deny":["shop"]},"waitForScan":true}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := New(ctx, Config{DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "b.db"), AdminPassword: adminPW, VulnDB: vdb, Admission: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.jobs.Poll = 50 * time.Millisecond
	s.Start(ctx)
	ts := serveHTTP(t, s)
	s.cfg.RegistryHosts = []string{ts.host}
	hook := httptest.NewUnstartedServer(s.Handler())
	hook.StartTLS()
	t.Cleanup(hook.Close)

	// Images: signed and clean, unsigned, vulnerable.
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
	pub, signer := testenv.SigningKey(t)
	setPolicy := func(project string, p policy.PullPolicy) {
		b, _ := json.Marshal(p)
		if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/"+project+"/policy", string(b)); code != 200 {
			t.Fatalf("set policy: %d %v", code, body)
		}
	}
	setPolicy("shop", policy.PullPolicy{BlockSeverity: "critical", Unscanned: "block", RequireSignature: true, Keys: []string{string(pub)}})
	setPolicy("vuln", policy.PullPolicy{BlockSeverity: "unknown", Unscanned: "block"})
	appImg := testenv.OneLayerImage(t, testenv.TarFile{Name: "app", Mode: 0o755, Body: "app"})
	otherImg := testenv.OneLayerImage(t, testenv.TarFile{Name: "app", Mode: 0o755, Body: "unsigned"})
	vulnImg := testenv.VulnerableGoImage(t)
	app, unsigned, vuln := ts.host+"/shop/app:v1", ts.host+"/shop/unsigned:v1", ts.host+"/vuln/api:1"
	digests := map[string]string{}
	for _, x := range []struct {
		ref string
		img v1.Image
	}{{app, appImg}, {unsigned, otherImg}, {vuln, vulnImg}} {
		r, _ := name.ParseReference(x.ref)
		if err := remote.Write(r, x.img, admin); err != nil {
			t.Fatal(err)
		}
		d, _ := x.img.Digest()
		digests[x.ref] = d.String()
		waitScanned(t, s.store, d.String())
	}
	appRef, _ := name.ParseReference(app)
	if _, err := sign.Sign(ctx, appRef, signer, nil, admin); err != nil {
		t.Fatal(err)
	}
	s.gate.invalidate()

	// Register the webhooks as bulwark admission install prints them.
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})
	manifests, err := admission.Install{URL: hook.URL, CABundle: ca, TimeoutSeconds: cfg.TimeoutSeconds}.Manifests()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := kube.Kubectl(t, string(manifests), "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply the webhook configurations: %v\n%s", err, out)
	}
	for _, ns := range []string{"shop", "warned", "audited", "hardened", "kube-system"} {
		kube.Namespace(t, ns, nil)
	}
	// The API server picks up new webhook configurations within a
	// second or so: wait until a privileged pod is refused.
	create := func(ns, body string, query string) (int, string) {
		return kube.Do(t, "POST", "/api/v1/namespaces/"+ns+"/pods"+query, []byte(body))
	}
	for i := 0; ; i++ {
		code, body := create("shop", privilegedPod("shop", "probe", app), "?dryRun=All")
		if code == 403 {
			break
		}
		if i > 100 {
			t.Fatalf("the webhook never took effect: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	records := func() map[string][]map[string]any {
		out := map[string][]map[string]any{}
		s.audit.Checkpoint(ctx)
		s.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
			if r.Action == audit.ActionAdmission.String() {
				var d map[string]any
				json.Unmarshal([]byte(r.Detail), &d)
				d["outcome"], d["actor"] = r.Outcome, r.Actor
				out[r.Object] = append(out[r.Object], d)
			}
			return nil
		})
		return out
	}
	if got := records()["Pod shop/probe"]; len(got) != 0 {
		t.Errorf("dry runs were recorded: %v", got)
	}

	t.Run("privileged pod denied with the check's message", func(t *testing.T) {
		out, err := kube.Kubectl(t, privilegedPod("shop", "root", app), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, "BW-K8S-004") || !strings.Contains(out, "runs privileged") || !strings.Contains(out, "denied the request") {
			t.Errorf("kubectl apply of a privileged pod: %v\n%s", err, out)
		}
		rec := records()["Pod shop/root"]
		if len(rec) != 1 || rec[0]["outcome"] != "denied" || rec[0]["actor"] != "admin" || !strings.Contains(toJSON(rec[0]["reasons"]), "BW-K8S-004") {
			t.Errorf("audit record: %v", rec)
		}
	})
	t.Run("compliant signed image admitted and pinned to its digest", func(t *testing.T) {
		code, body := create("shop", compliantPod("shop", "web", app), "")
		if code != 201 {
			t.Fatalf("create: %d %s", code, body)
		}
		_, got := kube.Do(t, "GET", "/api/v1/namespaces/shop/pods/web", nil)
		var pod struct {
			Spec struct{ Containers []struct{ Image string } }
		}
		json.Unmarshal([]byte(got), &pod)
		if want := app + "@" + digests[app]; len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != want {
			t.Errorf("stored image %+v, want %s", pod.Spec.Containers, want)
		}
	})
	t.Run("unsigned image denied", func(t *testing.T) {
		code, body := create("shop", compliantPod("shop", "unsigned", unsigned), "")
		if code != 403 || !strings.Contains(body, "not signed") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("blocking vulnerability denied", func(t *testing.T) {
		code, body := create("shop", compliantPod("shop", "vuln", vuln), "")
		if code != 403 || !strings.Contains(body, "GO-2021-0113") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("a scan still running is waited for", func(t *testing.T) {
		// Pushed a moment before the rollout: the webhook waits for the
		// scan rather than refusing the image as unscanned.
		late := ts.host + "/vuln/late:1"
		r, _ := name.ParseReference(late)
		lateImg, err := mutate.Config(vulnImg, v1.Config{Env: []string{"BUILD=late"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, lateImg, admin); err != nil {
			t.Fatal(err)
		}
		code, body := create("shop", compliantPod("shop", "late", late), "")
		if code != 403 || !strings.Contains(body, "GO-2021-0113") || strings.Contains(body, "not been scanned") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("image from another registry denied", func(t *testing.T) {
		code, body := create("shop", compliantPod("shop", "foreign", "docker.io/library/nginx:1.27"), "")
		if code != 403 || !strings.Contains(body, "not served by this bulwark registry") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("deployment judged through its template", func(t *testing.T) {
		dep := `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      hostPID: true
      containers: [{name: api, image: "` + app + `"}]
`
		out, err := kube.Kubectl(t, dep, "apply", "-f", "-")
		if err == nil || !strings.Contains(out, "BW-K8S-011") || !strings.Contains(out, "Deployment shop/api") {
			t.Errorf("%v\n%s", err, out)
		}
	})
	t.Run("warn mode admits with warnings", func(t *testing.T) {
		out, err := kube.Kubectl(t, privilegedPod("warned", "root", app), "apply", "-f", "-")
		if err != nil || !strings.Contains(out, "Warning: bulwark would deny: BW-K8S-004") {
			t.Errorf("%v\n%s", err, out)
		}
	})
	t.Run("audit mode admits silently and records", func(t *testing.T) {
		out, err := kube.Kubectl(t, privilegedPod("audited", "root", app), "apply", "-f", "-")
		if err != nil || strings.Contains(out, "Warning") {
			t.Errorf("%v\n%s", err, out)
		}
		rec := records()["Pod audited/root"]
		if len(rec) != 1 || rec[0]["would_deny"] != true || rec[0]["mode"] != "audit" || rec[0]["outcome"] != "success" {
			t.Errorf("audit record: %v", rec)
		}
	})
	t.Run("dry run decides and records nothing", func(t *testing.T) {
		out, err := kube.Kubectl(t, privilegedPod("shop", "dry", app), "apply", "--dry-run=server", "-f", "-")
		if err == nil || !strings.Contains(out, "BW-K8S-004") {
			t.Errorf("%v\n%s", err, out)
		}
		if rec := records()["Pod shop/dry"]; len(rec) != 0 {
			t.Errorf("a dry run was recorded: %v", rec)
		}
	})
	t.Run("secure defaults where the namespace opts in", func(t *testing.T) {
		pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"plain","namespace":"hardened"},"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":10001},
"containers":[{"name":"app","image":"` + app + `"}]}}`
		code, body := create("hardened", pod, "")
		if code != 201 {
			t.Fatalf("%d %s", code, body)
		}
		var got struct {
			Spec struct {
				AutomountServiceAccountToken *bool `json:"automountServiceAccountToken"`
				SecurityContext              struct {
					SeccompProfile struct{ Type string } `json:"seccompProfile"`
				} `json:"securityContext"`
				Containers []struct {
					SecurityContext struct {
						AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
					} `json:"securityContext"`
				} `json:"containers"`
			} `json:"spec"`
		}
		json.Unmarshal([]byte(body), &got)
		if got.Spec.AutomountServiceAccountToken == nil || *got.Spec.AutomountServiceAccountToken || got.Spec.SecurityContext.SeccompProfile.Type != "RuntimeDefault" ||
			len(got.Spec.Containers) != 1 || got.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation == nil || *got.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("defaults not applied: %s", body)
		}
	})
	t.Run("kube-system untouched", func(t *testing.T) {
		code, body := create("kube-system", privilegedPod("kube-system", "proxy", "docker.io/library/proxy:1"), "")
		if code != 201 {
			t.Errorf("%d %s", code, body)
		}
		if rec := records()["Pod kube-system/proxy"]; len(rec) != 0 {
			t.Errorf("the webhook saw kube-system: %v", rec)
		}
	})
	t.Run("ephemeral container checked", func(t *testing.T) {
		patch := `{"spec":{"ephemeralContainers":[{"name":"debugger","image":"` + app + `","securityContext":{"privileged":true}}]}}`
		code, body := kube.Do(t, "PATCH", "/api/v1/namespaces/shop/pods/web/ephemeralcontainers", []byte(patch))
		if code != 403 || !strings.Contains(body, "BW-K8S-004") || !strings.Contains(body, "debugger") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("webhook down: failurePolicy Fail refuses", func(t *testing.T) {
		hook.Close()
		code, body := create("shop", compliantPod("shop", "later", app), "")
		if code != 500 || !strings.Contains(body, "failed calling webhook") {
			t.Errorf("with the webhook down: %d %s", code, body)
		}
	})
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
