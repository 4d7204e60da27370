package python

import (
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/inventory/inventorytest"
)

// distPackages is where Debian's python3-* packages install distributions
// (both dist-info and egg-info forms occur there).
const distPackages = "/usr/lib/python3/dist-packages"

// TestAgainstImportlib compares with CPython's own importlib.metadata
// reading the same directory.
func TestAgainstImportlib(t *testing.T) {
	if _, err := os.Stat(distPackages); err != nil {
		t.Fatalf("%s: %v (scripts/deps.sh installs python3 packages)", distPackages, err)
	}
	out, err := exec.Command("python3", "-c", `
import importlib.metadata as m
for d in m.distributions(path=["`+distPackages+`"]):
    print(d.metadata["Name"] + "==" + d.version)
`).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	want := strings.Fields(string(out))
	sort.Strings(want)
	want = uniq(want)

	var got []string
	for _, pk := range inventorytest.ExtractDir(t, Extractor{}, distPackages, "/") {
		got = append(got, pk.Name+"=="+pk.Version)
	}
	sort.Strings(got)
	got = uniq(got)
	if len(want) < 10 {
		t.Fatalf("importlib found only %d distributions", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-importlib +bulwark):\n%s", diff)
	}
}

func uniq(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func TestLicences(t *testing.T) {
	tests := map[string][]string{
		"Metadata-Version: 2.4\nName: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: whatever\n": {"MIT OR Apache-2.0"},
		"Name: a\nVersion: 1\nLicense: BSD\n": {"BSD"},
		"Name: a\nVersion: 1\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\n": {"MIT License"},
	}
	for in, want := range tests {
		p, err := ParseMetadata([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, p.Licenses); diff != "" {
			t.Errorf("%q: %s", in, diff)
		}
	}
	if _, err := ParseMetadata([]byte("Summary: no name\n")); err == nil {
		t.Error("no error without Name")
	}
}

func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n\nbody"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseMetadata(b)
		if err == nil && (p.Name == "" || p.Version == "") {
			t.Fatal("empty name or version accepted")
		}
	})
}
