package netpol

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/k8s"
)

type e2eCase struct {
	Name            string                       `yaml:"name"`
	Pods            []string                     `yaml:"pods"`
	NamespaceLabels map[string]map[string]string `yaml:"namespaceLabels"`
	Policies        string                       `yaml:"policies"`
	Probes          []struct {
		Port   string  `yaml:"port"`
		Expect [][]any `yaml:"expect"`
	} `yaml:"probes"`
}

// e2eManifests is the upstream suite's model as manifests: namespaces,
// one Pod per name serving 80 and 81 on every protocol, the policies.
func e2eManifests(c e2eCase) string {
	var b strings.Builder
	nss := map[string]bool{}
	for _, p := range c.Pods {
		nss[strings.Split(p, "/")[0]] = true
	}
	for ns := range nss {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %q\n  labels:\n    ns: %q\n", ns, ns)
		for k, v := range c.NamespaceLabels[ns] {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
		b.WriteString("---\n")
	}
	for _, p := range c.Pods {
		ns, name, _ := strings.Cut(p, "/")
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %q\n  namespace: %q\n  labels:\n    pod: %q\nspec:\n  containers:\n", name, ns, name)
		for _, port := range []int{80, 81} {
			for _, proto := range Protocols {
				l := strings.ToLower(proto)
				fmt.Fprintf(&b, "  - name: cont-%d-%s\n    image: registry.k8s.io/e2e-test-images/agnhost:2.47\n    ports:\n    - {name: serve-%d-%s, containerPort: %d, protocol: %s}\n", port, l, port, l, port, proto)
			}
		}
		b.WriteString("---\n")
	}
	for _, doc := range strings.Split(c.Policies, "\n---\n") {
		if !strings.Contains(doc, "apiVersion:") {
			b.WriteString("apiVersion: networking.k8s.io/v1\n")
		}
		b.WriteString(strings.TrimSpace(doc) + "\n---\n")
	}
	return b.String()
}

func peerMatch(pattern, id string) bool {
	ok, _ := path.Match(pattern, id)
	return pattern == "*" || ok
}

func TestUpstreamE2ETruthTables(t *testing.T) { runCases(t, "testdata/upstream-e2e.yaml", 30) }

func TestAdminNetworkPolicyCases(t *testing.T) { runCases(t, "testdata/admin-cases.yaml", 7) }

func readCases(t *testing.T, file string) []e2eCase {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []e2eCase `yaml:"cases"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cases
}

func runCases(t *testing.T, file string, least int) {
	cases := readCases(t, file)
	if len(cases) < least {
		t.Fatalf("%d cases read; the file has more", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			d := k8s.Decode(c.Name+".yaml", []byte(e2eManifests(c)))
			if len(d.Errors) > 0 {
				t.Fatalf("decode: %v", d.Errors)
			}
			a := Build(d.Objects, Options{})
			for _, w := range a.Warnings {
				t.Errorf("warning: %s", w)
			}
			if err := a.Compute(context.Background()); err != nil {
				t.Fatal(err)
			}
			if a.Pods() != len(c.Pods) {
				t.Fatalf("%d workloads, want %d", a.Pods(), len(c.Pods))
			}
			for _, pr := range c.Probes {
				ps, proto, _ := strings.Cut(pr.Port, "/")
				port, _ := strconv.Atoi(ps)
				for src := range a.Pods() {
					for dst := range a.Pods() {
						if src == dst {
							continue // the suite ignores loopback
						}
						from, to := a.Endpoints[src].ID, a.Endpoints[dst].ID
						want := true
						for _, st := range pr.Expect {
							if peerMatch(st[0].(string), from) && peerMatch(st[1].(string), to) {
								want = st[2].(bool)
							}
						}
						if got := a.Conn(src, dst).Allows(proto, int32(port)); got != want {
							t.Errorf("%s: %s -> %s: allowed %v, want %v (computed %s)\n%s", pr.Port, from, to, got, want, a.Conn(src, dst), explainText(a.Explain(src, dst)))
						}
					}
				}
			}
		})
	}
}

func explainText(x Explanation) string {
	var b strings.Builder
	for _, s := range append(x.Egress, x.Ingress...) {
		fmt.Fprintf(&b, "  %s %s %s rule %d: %s %s\n", s.Direction, s.Tier, s.Policy, s.Rule, s.Action, s.Ports)
	}
	return b.String()
}
