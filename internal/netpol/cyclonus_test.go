package netpol

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"bulwark.dev/bulwark/internal/k8s"
	"bulwark.dev/bulwark/internal/testenv"
)

// cyclonusBin is mattfenwick/cyclonus, which simulates NetworkPolicy on a
// model of pods (its "probe" mode): an implementation written by others,
// so agreeing with it on every pair is evidence the semantics are right.
func cyclonusBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("BULWARK_CYCLONUS")
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("BULWARK_CYCLONUS is not set (.ci/run builds cyclonus)")
		}
		t.Skip("set BULWARK_CYCLONUS to a cyclonus v0.5.6 binary (.ci/run builds it)")
	}
	return bin
}

// cyclonusMatrix runs cyclonus on the analysis's workloads and the
// NetworkPolicies in files, and returns, per probe, the allowed pairs
// ("from to") of its combined table.
func cyclonusMatrix(t *testing.T, bin string, a *Analysis, policies []string, probes []string) []map[string]bool {
	t.Helper()
	dir := t.TempDir()
	type container struct {
		Name, Protocol, PortName string
		Port                     int
	}
	type pod struct {
		Namespace, Name, IP, ServiceIP string
		Labels                         map[string]string
		Containers                     []container
	}
	var pods []pod
	for i, e := range a.Endpoints[:a.pods] {
		p := pod{Namespace: e.Namespace, Name: e.Name, Labels: e.Labels, IP: fmt.Sprintf("172.16.%d.%d", i/250, i%250+1), ServiceIP: fmt.Sprintf("172.17.%d.%d", i/250, i%250+1)}
		names := map[namedPort]string{}
		for name, np := range e.ports {
			names[np] = name
		}
		for k, np := range e.served {
			p.Containers = append(p.Containers, container{Name: fmt.Sprintf("c%d", k), Protocol: Protocols[np.proto], PortName: names[np], Port: int(np.port)})
		}
		// cyclonus resolves a probed port number to the first container
		// with that number whatever its protocol: TCP first, as probed.
		sort.Slice(p.Containers, func(i, j int) bool {
			ci, cj := p.Containers[i], p.Containers[j]
			if ci.Protocol != cj.Protocol {
				return ci.Protocol == "TCP"
			}
			return ci.PortName < cj.PortName
		})
		if len(p.Containers) == 0 {
			p.Containers = []container{{Name: "c", Protocol: "TCP", Port: 1}}
		}
		pods = append(pods, p)
	}
	var probeList []map[string]any
	for _, pr := range probes {
		port, proto, _ := strings.Cut(pr, "/")
		n, _ := strconv.Atoi(port)
		probeList = append(probeList, map[string]any{"Protocol": proto, "Port": n})
	}
	model := map[string]any{"Resources": map[string]any{"Namespaces": a.namespaces, "Pods": pods}, "Probes": probeList}
	b, _ := json.Marshal(model)
	os.WriteFile(filepath.Join(dir, "model.json"), b, 0o644)
	pdir := filepath.Join(dir, "policies")
	os.Mkdir(pdir, 0o755)
	for i, p := range policies {
		os.WriteFile(filepath.Join(pdir, fmt.Sprintf("p%03d.yaml", i)), []byte(p), 0o644)
	}
	out, err := exec.Command(bin, "analyze", "--mode", "probe", "--policy-path", pdir, "--probe-path", filepath.Join(dir, "model.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("cyclonus: %v\n%s", err, out)
	}
	var tables []map[string]bool
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	var cols []string
	in := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "Combined:":
			in, cols = true, nil
			tables = append(tables, map[string]bool{})
		case !in || !strings.HasPrefix(line, "|"):
			if in && line == "" {
				in = false
			}
		default:
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			if cols == nil {
				cols = cells[1:]
				continue
			}
			for j, c := range cells[1:] {
				if c == "." {
					tables[len(tables)-1][cells[0]+" "+strings.ToLower(cols[j])] = true
				}
			}
		}
	}
	if len(tables) < len(probes) {
		t.Fatalf("cyclonus printed %d tables for %d probes:\n%s", len(tables), len(probes), out)
	}
	return tables[:len(probes)]
}

func compareWithCyclonus(t *testing.T, a *Analysis, tables []map[string]bool, probes []string) {
	t.Helper()
	compared := 0
	defer func() {
		if compared == 0 {
			t.Error("no pair was compared: no destination serves the probed ports")
		}
	}()
	for k, pr := range probes {
		port, proto, _ := strings.Cut(pr, "/")
		n, _ := strconv.Atoi(port)
		for src := range a.pods {
			for dst := range a.pods {
				key := strings.ToLower(a.Endpoints[src].Namespace + "/" + a.Endpoints[src].Name + " " + a.Endpoints[dst].Namespace + "/" + a.Endpoints[dst].Name)
				if !serves(a.Endpoints[dst], proto, int32(n)) {
					// cyclonus probes real servers: a port nothing listens
					// on is never reachable there, so it says nothing.
					continue
				}
				compared++
				got := a.Conn(src, dst).Allows(proto, int32(n))
				if want := tables[k][key]; got != want {
					t.Errorf("%s %s: bulwark %v, cyclonus %v (bulwark computed %s)", pr, key, got, want, a.Conn(src, dst))
				}
			}
		}
	}
}

// TestAgreesWithCyclonus: every NetworkPolicy case of the upstream e2e
// tables and Online Boutique's policies give the same answer for every
// pair and probe in bulwark and in cyclonus.
func TestAgreesWithCyclonus(t *testing.T) {
	bin := cyclonusBin(t)
	for _, c := range readCases(t, "testdata/upstream-e2e.yaml") {
		t.Run(c.Name, func(t *testing.T) {
			d := k8s.Decode("case.yaml", []byte(e2eManifests(c)))
			a := Build(d.Objects, Options{})
			if err := a.Compute(t.Context()); err != nil {
				t.Fatal(err)
			}
			var pols, probes []string
			for _, doc := range strings.Split(c.Policies, "\n---\n") {
				pols = append(pols, "apiVersion: networking.k8s.io/v1\n"+strings.TrimSpace(doc)+"\n")
			}
			for _, p := range c.Probes {
				probes = append(probes, p.Port)
			}
			compareWithCyclonus(t, a, cyclonusMatrix(t, bin, a, pols, probes), probes)
		})
	}
	t.Run("synthetic 200 workloads", func(t *testing.T) {
		objs := synthetic(8, 25, 10)
		pols := policyYAML(objs)
		a := Build(objs, Options{})
		if err := a.Compute(t.Context()); err != nil {
			t.Fatal(err)
		}
		probes := []string{"8000/TCP", "8003/TCP", "8017/TCP"}
		compareWithCyclonus(t, a, cyclonusMatrix(t, bin, a, pols, probes), probes)
	})
	t.Run("Online Boutique", func(t *testing.T) {
		demo := testenv.CorpusPath(t, "k8s", "microservices-demo")
		polDir := filepath.Join(demo, "kustomize", "components", "network-policies")
		a := loadCorpus(t, filepath.Join(demo, "release", "kubernetes-manifests.yaml"), polDir)
		files, _ := filepath.Glob(filepath.Join(polDir, "network-policy-*.yaml"))
		var pols []string
		for _, f := range files {
			b, _ := os.ReadFile(f)
			pols = append(pols, string(b))
		}
		probes := []string{"7070/TCP", "6379/TCP", "8080/TCP", "50051/TCP", "3550/TCP", "9555/TCP", "53/UDP"}
		compareWithCyclonus(t, a, cyclonusMatrix(t, bin, a, pols, probes), probes)
	})
}

func serves(e *Endpoint, proto string, port int32) bool {
	for _, np := range e.served {
		if np.port == port && Protocols[np.proto] == proto {
			return true
		}
	}
	return false
}

// BenchmarkCyclonusSideBySide runs cyclonus's simulation (one probe, TCP
// 8080) on the synthetic cluster of BenchmarkReachability, for the ratio
// in docs/netpol.md; bulwark computes every port of every pair at once.
func BenchmarkCyclonusSideBySide(b *testing.B) {
	bin := os.Getenv("BULWARK_CYCLONUS")
	if bin == "" {
		b.Skip("set BULWARK_CYCLONUS")
	}
	for _, n := range []int{8, 40} {
		objs := synthetic(n, 25, 10)
		pols := policyYAML(objs)
		a := Build(objs, Options{})
		t := &testing.T{}
		b.Run(fmt.Sprintf("%dpods", n*25), func(b *testing.B) {
			for b.Loop() {
				cyclonusMatrix(t, bin, a, pols, []string{"8080/TCP"})
			}
		})
	}
}

// policyYAML writes the NetworkPolicies among objs back out, for cyclonus.
func policyYAML(objs []*k8s.Object) []string {
	var out []string
	for _, o := range objs {
		if o.Kind == "NetworkPolicy" {
			y, _ := yaml.Marshal(o.Raw)
			out = append(out, string(y))
		}
	}
	return out
}
