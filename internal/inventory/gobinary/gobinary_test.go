package gobinary

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestPinnedModules builds a binary against old, pinned module versions
// and checks the cataloger against what the go tool itself resolved for
// the build (go list -deps), not against the binary reader.
func TestPinnedModules(t *testing.T) {
	mods := []testenv.GoModule{
		{Path: "golang.org/x/text", Version: "v0.3.5", Import: "golang.org/x/text/language"},
		{Path: "github.com/google/uuid", Version: "v1.1.1", Replace: "github.com/google/uuid v1.3.0"},
		{Path: "gopkg.in/yaml.v2", Version: "v2.2.2"},
	}
	bin, goVersion := testenv.BuildGoBinary(t, mods)
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := Extractor{}.Extract(context.Background(), &inventory.Input{Path: "app", Mode: 0o755, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]sbom.Package{}
	for _, p := range pkgs {
		got[p.Name] = p
	}

	// What the go tool linked: module path and version of every package.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{if .Replace}}{{.Replace.Path}} {{.Replace.Version}} {{.Path}}@{{.Version}}{{else}}{{.Path}} {{.Version}}{{end}}{{end}}{{end}}", ".")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	want := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		want[f[0]] = strings.Join(f[1:], " ")
	}
	gotDeps := map[string]string{}
	for _, p := range pkgs {
		if p.Main || p.Name == "stdlib" {
			continue
		}
		v := p.Version
		if p.Replace != "" {
			v += " " + p.Replace
		}
		gotDeps[p.Name] = v
	}
	if diff := cmp.Diff(want, gotDeps); diff != "" {
		t.Errorf("dependencies differ from go list (-want +got):\n%s", diff)
	}
	// The pins themselves, spelled out.
	if p := got["golang.org/x/text"]; p.Version != "v0.3.5" {
		t.Errorf("golang.org/x/text %q, want v0.3.5", p.Version)
	}
	if p := got["github.com/google/uuid"]; p.Version != "v1.3.0" || p.Replace != "github.com/google/uuid@v1.1.1" {
		t.Errorf("uuid: version %q replace %q; want v1.3.0 replacing v1.1.1", p.Version, p.Replace)
	}
	if p := got["example.com/bulwarktest"]; !p.Main {
		t.Errorf("main module not reported: %+v", p)
	}
	if p := got["stdlib"]; "go"+p.Version != goVersion && "go"+strings.TrimSuffix(p.Version, ".0") != goVersion {
		t.Errorf("stdlib %q, toolchain %q", p.Version, goVersion)
	}
}

func TestNotGo(t *testing.T) {
	for name, b := range map[string][]byte{
		"shell script":  []byte("#!/bin/sh\necho hi\n"),
		"magic by luck": append([]byte("\x7fELF garbage "), buildInfoMagic...),
	} {
		pkgs, err := Extractor{}.Extract(context.Background(), &inventory.Input{Path: name, Content: b})
		if len(pkgs) != 0 {
			t.Errorf("%s: packages %v", name, pkgs)
		}
		if name == "shell script" && err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A real non-Go executable of the machine.
	if b, err := os.ReadFile("/bin/sh"); err == nil {
		b = append(b, buildInfoMagic...)
		if pkgs, _ := (Extractor{}).Extract(context.Background(), &inventory.Input{Path: "sh", Content: b}); len(pkgs) != 0 {
			t.Errorf("/bin/sh: %v", pkgs)
		}
	}
}

func TestStdlibVersion(t *testing.T) {
	tests := map[string]string{
		"go1.22.5":                "1.22.5",
		"go1.21":                  "1.21.0",
		"go1.21.0 X:boringcrypto": "1.21.0",
		"go1.23rc1":               "1.23.0-rc.1",
		"devel go1.24-abcdef Tue": "",
		"go1.20beta2":             "1.20.0-beta.2",
	}
	var keys []string
	for k := range tests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, in := range keys {
		if got := StdlibVersion(in); got != tests[in] {
			t.Errorf("StdlibVersion(%q) = %q, want %q", in, got, tests[in])
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Add(append([]byte("\x7fELF\x02\x01\x01\x00"), buildInfoMagic...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Extractor{}.Extract(context.Background(), &inventory.Input{Path: "f", Content: b})
	})
}
