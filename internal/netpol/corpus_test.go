package netpol

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bulwark.dev/bulwark/internal/k8s"
	"bulwark.dev/bulwark/internal/testenv"
)

// boutique is Online Boutique's service graph, from its architecture
// (who calls whom) and each callee's container port; written from the
// project's documentation, not from bulwark's output.
var boutique = map[string]map[string]int32{
	"loadgenerator":         {"frontend": 8080},
	"frontend":              {"adservice": 9555, "cartservice": 7070, "checkoutservice": 5050, "currencyservice": 7000, "productcatalogservice": 3550, "recommendationservice": 8080, "shippingservice": 50051},
	"checkoutservice":       {"cartservice": 7070, "currencyservice": 7000, "emailservice": 8080, "paymentservice": 50051, "productcatalogservice": 3550, "shippingservice": 50051},
	"recommendationservice": {"productcatalogservice": 3550},
	"cartservice":           {"redis-cart": 6379},
}

func loadCorpus(t *testing.T, paths ...string) *Analysis {
	t.Helper()
	var objs []*k8s.Object
	for _, p := range paths {
		files := []string{p}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			files, _ = filepath.Glob(filepath.Join(p, "*.yaml"))
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			d := k8s.Decode(f, b)
			if len(d.Errors) > 0 {
				t.Fatalf("%s: %v", f, d.Errors)
			}
			objs = append(objs, d.Objects...)
		}
	}
	a := Build(objs, Options{})
	if err := a.Compute(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestOnlineBoutique: with the project's own NetworkPolicies (the
// kustomize component and the Helm chart's networkPolicies.create), every
// call of the service graph is allowed on its port and no other pod pair
// can connect; without policies, everything can.
func TestOnlineBoutique(t *testing.T) {
	demo := testenv.CorpusPath(t, "k8s", "microservices-demo")
	rendered := testenv.CorpusPath(t, "k8s", "helm-rendered")
	for _, tc := range []struct {
		name  string
		paths []string
		open  bool
	}{
		{"kustomize network-policies component", []string{filepath.Join(demo, "release", "kubernetes-manifests.yaml"), filepath.Join(demo, "kustomize", "components", "network-policies")}, false},
		{"helm chart with networkPolicies.create", []string{filepath.Join(rendered, "microservices-demo.netpol-seccomp.yaml")}, false},
		{"helm chart defaults (no policy)", []string{filepath.Join(rendered, "microservices-demo.default-values.yaml")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := loadCorpus(t, tc.paths...)
			for _, w := range a.Warnings {
				t.Errorf("warning: %s", w)
			}
			if a.Pods() < 12 {
				t.Fatalf("%d workloads, want the 12 services", a.Pods())
			}
			for src := range a.Pods() {
				for dst := range a.Pods() {
					from, to := a.Endpoints[src].Name, a.Endpoints[dst].Name
					if src == dst {
						continue
					}
					c := a.Conn(src, dst)
					port, edge := boutique[from][to]
					switch {
					case tc.open && !c.IsAll():
						t.Errorf("%s -> %s: %s, want all (no policy)", from, to, c)
					case tc.open:
					case edge && !c.Allows("TCP", port):
						t.Errorf("%s -> %s: %s, the service graph needs TCP %d", from, to, c, port)
					case to == "frontend":
						// The frontend takes traffic from anywhere (it is public).
					case !edge && !c.Empty():
						t.Errorf("%s -> %s: %s, want none (not in the service graph)", from, to, c)
					}
				}
			}
			// The outside reaches the frontend only.
			for dst := range a.Pods() {
				out := a.Conn(a.Pods(), dst)
				if name := a.Endpoints[dst].Name; !tc.open && (name == "frontend") == out.Empty() {
					t.Errorf("outside -> %s: %s", name, out)
				}
			}
			if !strings.HasPrefix(a.Endpoints[a.Pods()].ID, "outside:") {
				t.Errorf("endpoint after the workloads is %s", a.Endpoints[a.Pods()].ID)
			}
		})
	}
}
