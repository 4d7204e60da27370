package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/testenv"
)

// assertGolden compares out with testdata/name; go test -update
// rewrites the file instead.
func assertGolden(t *testing.T, name, out string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run Golden -update)", err)
	}
	if diff := cmp.Diff(string(want), out); diff != "" {
		t.Errorf("%s (-golden +got; go test ./internal/cli -run Golden -update rewrites it after a deliberate change):\n%s", name, diff)
	}
}

// stable replaces what depends on the machine and the day: the corpus
// and temporary paths (pairs of path and name, in order) and the
// database's import time.
func stable(out string, paths ...string) string {
	for i := 0; i+1 < len(paths); i += 2 {
		out = strings.ReplaceAll(out, paths[i], paths[i+1])
	}
	return regexp.MustCompile(`"updated": "[^"]+"`).ReplaceAllString(out, `"updated": "IMPORT_TIME"`)
}

// TestScanGolden scans an Alpine 3.18 root filesystem (the corpus's real
// apk database) against the corpus's Alpine secdb in every scan format.
func TestScanGolden(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "secdb", "alpine"))
	root := alpineRoot(t)
	for _, format := range report.ScanFormats {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := run(t, map[string]string{"SOURCE_DATE_EPOCH": "1764547200"}, "scan", "fs", "--db", db, "--format", format, root)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			out = stable(out, db, "VULN_DB", root, "ROOTFS", filepath.Base(root), "ROOTFS")
			if format == "cyclonedx" {
				testenv.ValidateJSONSchema(t, "bom-1.6.schema.json", []byte(out))
			}
			// The serial number is derived from the (temporary) root's path.
			out = regexp.MustCompile(`urn:uuid:[0-9a-f-]{36}`).ReplaceAllString(out, "urn:uuid:SERIAL")
			assertGolden(t, "scan-alpine-3.18."+format+".golden", out)
		})
	}
}

// alpineRoot is an Alpine 3.18 root filesystem with the corpus's real
// apk database.
func alpineRoot(t *testing.T) string {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "lib", "apk", "db"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	b, err := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "apk", "scalibr-installed"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "lib", "apk", "db", "installed"), b, 0o644)
	os.WriteFile(filepath.Join(root, "etc", "alpine-release"), []byte("3.18.0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("ID=alpine\nVERSION_ID=3.18.0\n"), 0o644)
	return root
}

// TestCheckGolden checks a mixed set in every check format: corpus
// manifests (a passing one, failing ones, a CronJob), a Dockerfile, a
// compose file, and one manifest that cannot be read.
func TestCheckGolden(t *testing.T) {
	// Results are ordered by path, so every input sits under one
	// temporary root (the corpus files copied below it): where the
	// corpus lives on a machine must not change the order.
	root := t.TempDir()
	corpus := filepath.Join(root, "corpus")
	bad := filepath.Join(root, "broken.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: x\n    ports:\n    - containerPort: \"eighty\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs := []string{bad}
	for _, rel := range []string{
		"k8s/kube-score/testdata/all-ok.yaml",
		"k8s/kube-score/testdata/cronjob-batchv1.yaml",
		"k8s/kube-score/testdata/daemonset-appsv1.yaml",
		"dockerfiles/docker-library__httpd/2.4/Dockerfile",
		"compose/awesome-compose/apache-php/compose.yaml",
	} {
		b, err := os.ReadFile(testenv.CorpusPath(t, strings.Split(rel, "/")...))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(corpus, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, dst)
	}
	for _, format := range report.CheckFormats {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := run(t, nil, append([]string{"check", "--format", format}, inputs...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			out = stable(out, bad, "BROKEN_YAML", corpus, "CORPUS")
			assertGolden(t, "check-mixed."+format+".golden", out)
		})
	}
}

// TestScanAlpineComplete: the findings for the corpus's Alpine 3.18
// packages are exactly the list computed here from the secdb files and
// the apk database by hand (origin package, every secfixes version but
// "0", installed < fixed by dpkg --compare-versions, which orders
// N.N[a]-rN versions as apk does once its pre-release suffixes become
// dpkg's "~" and _p its "+p"): nothing missed, nothing extra.
func TestScanAlpineComplete(t *testing.T) {
	db := importDB(t, testenv.CorpusPath(t, "secdb", "alpine"))
	root := alpineRoot(t)
	installed, err := os.ReadFile(filepath.Join(root, "lib", "apk", "db", "installed"))
	if err != nil {
		t.Fatal(err)
	}
	type pkg struct{ name, version, origin string }
	var pkgs []pkg
	for _, stanza := range strings.Split(string(installed), "\n\n") {
		var p pkg
		for _, l := range strings.Split(stanza, "\n") {
			switch {
			case strings.HasPrefix(l, "P:"):
				p.name = l[2:]
			case strings.HasPrefix(l, "V:"):
				p.version = l[2:]
			case strings.HasPrefix(l, "o:"):
				p.origin = l[2:]
			}
		}
		if p.name != "" {
			pkgs = append(pkgs, p)
		}
	}
	plain := regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|p)[0-9]*)?-r[0-9]+$`)
	dpkgVersion := strings.NewReplacer("_alpha", "~alpha", "_beta", "~beta", "_pre", "~pre", "_rc", "~rc", "_p", "+p").Replace
	var want []string
	files, _ := filepath.Glob(filepath.Join(testenv.CorpusPath(t, "secdb", "alpine", "3.18", "main"), "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var sec struct {
			Name     string              `json:"name"`
			Secfixes map[string][]string `json:"secfixes"`
		}
		if err := json.Unmarshal(b, &sec); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for fixed, cves := range sec.Secfixes {
			if fixed == "0" {
				continue // never affected Alpine's package
			}
			if !plain.MatchString(fixed) {
				t.Fatalf("%s: %s is not a plain version; extend the expectation", f, fixed)
			}
			for _, p := range pkgs {
				if p.origin != sec.Name || !plain.MatchString(p.version) {
					continue
				}
				if exec.Command("dpkg", "--compare-versions", dpkgVersion(p.version), "lt", dpkgVersion(fixed)).Run() == nil {
					for _, cve := range cves {
						want = append(want, p.name+" "+cve)
					}
				}
			}
		}
	}
	sort.Strings(want)
	got := packageIDs(scanJSON(t, 0, "fs", "--db", db, root))
	if len(want) < 20 {
		t.Fatalf("expectation too small: %v", want)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-expected from secdb +bulwark):\n%s", diff)
	}
}

// packageIDs lists a scan's findings as "package advisory", sorted.
func packageIDs(r *report.ScanReport) []string {
	var out []string
	for _, res := range r.Results {
		out = append(out, res.Package.Name+" "+res.ID)
	}
	sort.Strings(out)
	return out
}
