package report

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/sbom"
)

func TestPackageFromPURL(t *testing.T) {
	one := 1
	tests := map[string]sbom.Package{
		"pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5%2Bdeb12u3": {
			Type: "deb", Namespace: "debian", Name: "bsdutils", Version: "1:2.38.1-5+deb12u3", Arch: "amd64",
			SourceName: "util-linux", SourceVersion: "2.38.1-5+deb12u3"},
		"pkg:apk/alpine/ssl_client@1.36.0-r9?arch=x86_64&distro=alpine-3.18.0&upstream=busybox": {
			Type: "apk", Namespace: "alpine", Name: "ssl_client", Version: "1.36.0-r9", Arch: "x86_64",
			SourceName: "busybox", SourceVersion: "1.36.0-r9"},
		"pkg:rpm/amzn/libuuid@2.32.1-42.el8_8?arch=x86_64&epoch=1&upstream=util-linux-2.32.1-42.el8_8.src.rpm": {
			Type: "rpm", Namespace: "amzn", Name: "libuuid", Version: "2.32.1-42.el8_8", Arch: "x86_64", Epoch: &one,
			SourceName: "util-linux", SourceVersion: "2.32.1-42.el8_8"},
		"pkg:golang/golang.org/x/text@v0.3.5":         {Type: "golang", Name: "golang.org/x/text", Version: "v0.3.5"},
		"pkg:npm/%40babel/core@7.1.0":                 {Type: "npm", Namespace: "@babel", Name: "core", Version: "7.1.0"},
		"pkg:maven/org.apache.any23/apache-any23@2.3": {Type: "maven", Namespace: "org.apache.any23", Name: "apache-any23", Version: "2.3"},
	}
	for in, want := range tests {
		got, err := PackageFromPURL(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		want.PURL, want.Cataloger = in, "sbom"
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", in, diff)
		}
	}
	if _, err := PackageFromPURL("not a purl"); err == nil {
		t.Error("bad purl accepted")
	}
}

func TestReadSBOMErrors(t *testing.T) {
	for in, msg := range map[string]string{
		`{"bomFormat":"CycloneDX","components":[{"name":"x","purl":"::bad"}]}`: "purl",
		`{"spdxVersion":"SPDX-2.3","packages":"nope"}`:                         "in.json",
		`{"hello":"world"}`: "neither CycloneDX",
		`{"bomFormat":`:     "not JSON",
	} {
		if _, err := ReadSBOM([]byte(in), "in.json"); err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "in.json") {
			t.Errorf("%s: %v, want an error naming in.json and %q", in, err, msg)
		}
	}
}

func FuzzReadSBOM(f *testing.F) {
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","version":"1","purl":"pkg:npm/a@1"}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","packages":[{"name":"a","SPDXID":"SPDXRef-a","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:deb/debian/a@1?distro=debian-12"}]}]}`))
	f.Add([]byte(`{"schemaVersion":"1","packages":[{"name":"a","version":"1","type":"apk","locations":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ReadSBOM(b, "f")
		if err == nil {
			for _, p := range doc.Packages {
				if len(p.Locations) == 0 {
					t.Fatal("package without a location")
				}
			}
		}
	})
}
