package java

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/sbom"
)

// javaDir holds the jars of Debian's Java library packages.
const javaDir = "/usr/share/java"

func coords(pkgs []sbom.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Namespace+":"+p.Name+":"+p.Version)
	}
	sort.Strings(out)
	return out
}

// TestDebianJars compares the Maven coordinates of every real jar with
// what Python's zipfile reads from their pom.properties.
func TestDebianJars(t *testing.T) {
	jars, _ := filepath.Glob(filepath.Join(javaDir, "*.jar"))
	var real []string
	for _, j := range jars {
		if fi, err := os.Lstat(j); err == nil && fi.Mode().IsRegular() {
			real = append(real, j)
		}
	}
	if len(real) < 5 {
		t.Fatalf("only %d jars in %s (scripts/deps.sh installs Debian's Java libraries)", len(real), javaDir)
	}
	withPom := 0
	for _, j := range real {
		out, err := exec.Command("python3", "-c", `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.startswith("META-INF/maven/") and n.endswith("/pom.properties"):
        kv = {}
        for l in z.read(n).decode("utf-8", "replace").splitlines():
            l = l.strip()
            if l and l[0] not in "#!" and "=" in l:
                k, v = l.split("=", 1)
                kv[k.strip()] = v.strip()
        if kv.get("artifactId") and kv.get("version"):
            print(kv.get("groupId", "") + ":" + kv["artifactId"] + ":" + kv["version"])
`, j).Output()
		if err != nil {
			t.Fatalf("%s: python: %v", j, err)
		}
		want := strings.Fields(string(out))
		b, err := os.ReadFile(j)
		if err != nil {
			t.Fatal(err)
		}
		pkgs, err := Parse(context.Background(), b, j)
		if err != nil {
			t.Errorf("%s: %v", j, err)
			continue
		}
		if len(want) == 0 {
			// No Maven metadata: named from the manifest or file name.
			if len(pkgs) > 1 {
				t.Errorf("%s: %v", j, coords(pkgs))
			}
			continue
		}
		withPom++
		sort.Strings(want)
		if diff := cmp.Diff(want, coords(pkgs)); diff != "" {
			t.Errorf("%s (-zipfile +bulwark):\n%s", filepath.Base(j), diff)
		}
	}
	if withPom == 0 {
		t.Error("no jar with Maven metadata was compared")
	}
}

func zipOf(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[n])
	}
	zw.Close()
	return buf.Bytes()
}

func TestNestedAndManifest(t *testing.T) {
	inner := zipOf(t, map[string][]byte{
		"META-INF/maven/org.example/lib/pom.properties": []byte("groupId=org.example\nartifactId=lib\nversion=1.2.3\n"),
	})
	noPom := zipOf(t, map[string][]byte{
		"META-INF/MANIFEST.MF": []byte("Manifest-Version: 1.0\r\nImplementation-Title: Fancy\r\nImplementation-Version: 4.5\r\nImplementation-Vendor-Id: org.fancy\r\n"),
	})
	war := zipOf(t, map[string][]byte{
		"META-INF/maven/com.acme/app/pom.properties": []byte("groupId=com.acme\nartifactId=app\nversion=0.1\n"),
		"WEB-INF/lib/lib-1.2.3.jar":                  inner,
		"WEB-INF/lib/fancy-4.5.jar":                  noPom,
	})
	pkgs, err := Parse(context.Background(), war, "app.war")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"com.acme:app:0.1", "org.example:lib:1.2.3", "org.fancy:fancy:4.5"}
	if diff := cmp.Diff(want, coords(pkgs)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, p := range pkgs {
		if p.Name == "lib" && p.Locations[0].Path != "app.war!/WEB-INF/lib/lib-1.2.3.jar" {
			t.Errorf("nested location %q", p.Locations[0].Path)
		}
	}
}

func TestBombAndGarbage(t *testing.T) {
	big := zipOf(t, map[string][]byte{"META-INF/MANIFEST.MF": bytes.Repeat([]byte("A"), 2<<20)})
	if _, err := Parse(context.Background(), big, "big.jar"); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("oversized manifest: %v", err)
	}
	if _, err := Parse(context.Background(), []byte("PK\x03\x04 truncated"), "bad.jar"); err == nil || !strings.Contains(err.Error(), "bad.jar") {
		t.Errorf("garbage: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(context.Background(), b, "f.jar")
	})
}
