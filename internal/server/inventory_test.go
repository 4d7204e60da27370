package server

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/sla"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestSLAWaitsForRunningPods runs a patch clock against a real
// kube-apiserver's pods: the tag moves to the fix in time, but a pod
// still runs the old digest (as its kubelet reports), so the clock is
// breached; it stops when that pod is deleted. A pending pod counts with
// the digest its tag names; another registry's image is not tracked; a
// cluster that cannot be listed leaves the inventory as it was.
func TestSLAWaitsForRunningPods(t *testing.T) {
	kube := testenv.KubeAPIServer(t)
	kube.Namespace(t, "shop", nil)
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		ts := start(t, dsn)
		const host = "registry.example:5000"
		ts.cfg.RegistryHosts = []string{host}
		ts.cfg.Inventory = Inventory{Kubeconfig: kube.Kubeconfig, Name: "prod"}
		t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		now := t0
		ts.store.Now = func() time.Time { return now }
		old, fixed := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
		storetest.Tag(t, ts.store, "shop/app", old, "v1")
		if err := ts.store.RecordFindings(ctx, old, []store.FindingKey{{Advisory: "CVE-2026-1000", Package: "openssl@3.0.1", Severity: "CRITICAL", Fixed: "3.0.2"}}); err != nil {
			t.Fatal(err)
		}
		pod := func(name, image string) {
			t.Helper()
			p := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": name},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": image}}}}
			if code, body := kube.Do(t, "POST", "/api/v1/namespaces/shop/pods", p); code != http.StatusCreated {
				t.Fatalf("create pod %s: %d %s", name, code, body)
			}
			t.Cleanup(func() { kube.Do(t, "DELETE", "/api/v1/namespaces/shop/pods/"+name+"?gracePeriodSeconds=0", nil) })
		}
		pod("app-1", host+"/shop/app:v1")
		// The kubelet reports what it pulled, as Docker names it.
		status := map[string]any{"status": map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{
			"name": "app", "image": host + "/shop/app:v1", "imageID": "docker-pullable://" + host + "/shop/app@" + old,
			"ready": true, "restartCount": 0, "state": map[string]any{"running": map[string]any{}}}}}}
		if code, body := kube.Do(t, "PATCH", "/api/v1/namespaces/shop/pods/app-1/status", status); code != http.StatusOK {
			t.Fatalf("pod status: %d %s", code, body)
		}
		pod("app-2", host+"/shop/app:v1") // pending: pulls what v1 names
		pod("proxy", "docker.io/library/nginx:1.29")

		inventory := func(at time.Duration, want InventoryResult) {
			t.Helper()
			now = t0.Add(at)
			got, err := ts.RecordInventory(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("inventory at %s (-want +got):\n%s", at, d)
			}
		}
		clock := func(at time.Duration) sla.Clock {
			t.Helper()
			f, tags, err := sla.Load(ctx, ts.store)
			if err != nil {
				t.Fatal(err)
			}
			cs := sla.Compute(t0.Add(at), sla.DefaultPolicy(), f, tags)
			if len(cs) != 1 {
				t.Fatalf("%d clocks: %+v", len(cs), cs)
			}
			return cs[0]
		}
		inventory(time.Hour, InventoryResult{Cluster: "prod", Running: 2, Foreign: 1, Started: 2})
		inventory(2*time.Hour, InventoryResult{Cluster: "prod", Running: 2, Foreign: 1})
		now = t0.Add(5 * time.Hour)
		storetest.Tag(t, ts.store, "shop/app", fixed, "v1")
		inventory(6*time.Hour, InventoryResult{Cluster: "prod", Running: 2, Foreign: 1, Started: 1, Ended: 1})

		c := clock(80 * time.Hour)
		if c.State != sla.Breached || len(c.Tags) != 0 || !cmp.Equal(c.Workloads, []string{"prod shop/app-1/app"}) {
			t.Errorf("at 80h: %s, tags %v, workloads %v; want breached, run by prod shop/app-1/app only", c.State, c.Tags, c.Workloads)
		}
		if n, err := ts.CheckSLA(ctx, t0.Add(80*time.Hour)); err != nil || n != 1 {
			t.Errorf("CheckSLA: %d notices, %v; want the breach", n, err)
		}

		// An unreachable cluster is not an empty one.
		good := ts.cfg.Inventory.Kubeconfig
		broken := filepath.Join(t.TempDir(), "kubeconfig")
		kc, _ := os.ReadFile(good)
		os.WriteFile(broken, []byte(strings.Replace(string(kc), kube.URL, "https://127.0.0.1:1", 1)), 0o600)
		ts.cfg.Inventory.Kubeconfig = broken
		now = t0.Add(85 * time.Hour)
		if _, err := ts.RecordInventory(ctx); err == nil || !strings.Contains(err.Error(), "cluster prod") {
			t.Errorf("unreachable cluster: %v", err)
		}
		if c := clock(86 * time.Hour); c.State != sla.Breached {
			t.Errorf("after a failed listing: %s, want still breached", c.State)
		}
		ts.cfg.Inventory.Kubeconfig = good

		if code, body := kube.Do(t, "DELETE", "/api/v1/namespaces/shop/pods/app-1?gracePeriodSeconds=0", nil); code != http.StatusOK {
			t.Fatalf("delete pod: %d %s", code, body)
		}
		inventory(90*time.Hour, InventoryResult{Cluster: "prod", Running: 1, Foreign: 1, Ended: 1})
		c = clock(100 * time.Hour)
		if c.State != sla.Late || !c.Stopped.Equal(t0.Add(90*time.Hour)) || len(c.Workloads) != 0 {
			t.Errorf("after the pod is gone: %s, stopped %v, workloads %v; want late, stopped at 90h", c.State, c.Stopped, c.Workloads)
		}
		for _, name := range []string{"app-2", "proxy"} {
			kube.Do(t, "DELETE", "/api/v1/namespaces/shop/pods/"+name+"?gracePeriodSeconds=0", nil)
		}
	})
}
