// Package internal_test keeps the direction of imports honest: leaf
// packages import no bulwark package, domain packages never import the
// wiring (cli, server), and nothing imports test helpers but tests.
package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "bulwark.dev/bulwark/"

// rank orders every package of the module by the data-flow direction
// (DESIGN.md: source -> analysis -> findings -> verdict -> report, store,
// audit -> wiring): a package may import only packages of a lower rank.
// Every package needs a rank, so a new one is placed on purpose. Nothing
// imports server or cli but the binary; domain packages import no
// transport.
var rank = map[string]int{
	// Leaves: the data model and the primitives.
	"internal/sbom": 0, "internal/severity": 0, "internal/image": 0, "internal/dockerfile": 0, "internal/k8s": 0,
	// Storage of state and facts.
	"internal/store": 1, "internal/vulndb": 1, "internal/inventory": 1,
	// Analysis: catalogers, matching, checks, signatures, identity.
	"internal/inventory/apk": 2, "internal/inventory/dpkg": 2, "internal/inventory/gobinary": 2, "internal/inventory/java": 2,
	"internal/inventory/npm": 2, "internal/inventory/python": 2, "internal/inventory/rpm": 2, "internal/inventory/inventorytest": 2,
	"internal/match": 2, "internal/falco": 2, "internal/checks": 2, "internal/sign": 2, "internal/identity": 2, "internal/audit": 2, "internal/registry": 2,
	"internal/store/storetest":   2,
	"internal/inventory/catalog": 3,
	// Findings into decisions and documents.
	"internal/policy": 3, "internal/scan": 3, "internal/sla": 3, "internal/dockerbench": 3, "internal/kubebench": 2, "internal/netpol": 2, "internal/jobs": 3, "internal/watch": 3,
	"internal/verdict": 4, "internal/report": 4, "internal/compliance": 4,
	// Work that runs them.
	"internal/scanner": 5, "internal/admission": 5,
	// Wiring: HTTP and the command line.
	"internal/server": 6, "internal/cli": 7,
	"cmd/bulwark": 8, "tools/checkdocs": 8, "tools/demoimage": 8, "tools/admissionload": 8, "tools/fakes3": 8, "tools/loadgen": 8, "tools/testregistry": 8,
	"internal": 8, "internal/testenv": 8,
}

// transport lists the packages that may speak HTTP, and why. The
// decision packages (policy, verdict, scan, match, checks, store, jobs)
// take their inputs as data, so the webhook, the CLI and the registry
// can share them without dragging a server along.
var transport = map[string]string{
	"internal/image":     "pulls from registries (a source)",
	"internal/sign":      "reads and writes signatures in registries",
	"internal/vulndb":    "downloads advisory databases from a mirror",
	"internal/audit":     "delivers records to SIEMs over HTTP",
	"internal/registry":  "is the OCI Distribution API",
	"internal/admission": "is the Kubernetes webhook, and resolves tags in registries",
	"internal/watch":     "sends runtime alerts to a bulwark server (watch --server)",
	"internal/testenv":   "drives a real kube-apiserver for tests",
	"internal/server":    "is the HTTP wiring",
	"internal/cli":       "starts the server",
}

var transportImports = []string{"net/http", "google.golang.org/grpc", "github.com/gorilla/mux"}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		rel := strings.TrimPrefix(p.ImportPath, mod)
		r, ok := rank[rel]
		if !ok {
			t.Errorf("%s has no rank in internal/layering_test.go: place it in the data flow", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				for _, tr := range transportImports {
					if imp == tr && transport[rel] == "" && !strings.HasPrefix(rel, "tools/") {
						t.Errorf("%s imports %s: a domain package takes its input as data (or add it to transport, with why)", rel, imp)
					}
				}
				continue
			}
			irel := strings.TrimPrefix(imp, mod)
			if irel == "internal/testenv" || irel == "internal/inventory/inventorytest" {
				t.Errorf("%s imports the test helper package %s", rel, irel)
				continue
			}
			if ir, ok := rank[irel]; ok && ir >= r {
				t.Errorf("%s (rank %d) imports %s (rank %d), against the data-flow direction", rel, r, irel, ir)
			}
		}
	}
	if n < 5 {
		t.Fatalf("go list saw only %d packages", n)
	}
}
