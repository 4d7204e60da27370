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

// forbidden maps a package prefix to the bulwark packages it must not
// import (directly).
var forbidden = map[string][]string{
	"internal/sbom":      {"internal/"},
	"internal/image":     {"internal/"},
	"internal/inventory": {"internal/cli", "internal/report", "internal/server"},
	"internal/report":    {"internal/cli", "internal/image", "internal/inventory"},
	"internal/vulndb":    {"internal/cli", "internal/report", "internal/image", "internal/inventory", "internal/match"},
	"internal/policy":    {"internal/cli", "internal/report", "internal/image", "internal/inventory"},
	"internal/severity":  {"internal/"},
	"internal/match":     {"internal/cli", "internal/report", "internal/image", "internal/inventory"},
}

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
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			irel := strings.TrimPrefix(imp, mod)
			if irel == "internal/testenv" || irel == "internal/inventory/inventorytest" {
				t.Errorf("%s imports the test helper package %s", rel, irel)
			}
			for prefix, bans := range forbidden {
				if rel != prefix && !strings.HasPrefix(rel, prefix+"/") {
					continue
				}
				for _, ban := range bans {
					if strings.HasPrefix(irel, ban) {
						t.Errorf("%s imports %s, against the data-flow direction", rel, irel)
					}
				}
			}
		}
	}
	if n < 5 {
		t.Fatalf("go list saw only %d packages", n)
	}
}
