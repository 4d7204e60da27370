package cli

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/package-url/packageurl-go"

	"bulwark.dev/bulwark/internal/report"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

type debRow struct{ Name, Version, Source, Arch string }

func readPackagesTSV(t *testing.T, file string) []debRow {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []debRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 4 {
			t.Fatalf("%s: bad line %q", file, sc.Text())
		}
		rows = append(rows, debRow{c[0], c[1], c[2], c[3]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func sbomJSON(t *testing.T, args ...string) *sbom.Document {
	t.Helper()
	code, out, errOut := run(t, nil, append([]string{"sbom", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("bulwark sbom %v: exit %d: %s", args, code, errOut)
	}
	var doc sbom.Document
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

func debRows(t *testing.T, doc *sbom.Document) []debRow {
	var rows []debRow
	for _, p := range doc.Packages {
		if p.Type != sbom.TypeDeb {
			t.Errorf("unexpected %s package %s", p.Type, p.Name)
			continue
		}
		rows = append(rows, debRow{p.Name, p.Version, p.SourceName, p.Arch})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// TestDebianImageEverySource scans the Debian image rebuilt from
// Debian's packages through every kind of source and compares with the
// packages.tsv that dpkg-query wrote from the same root filesystem.
func TestDebianImageEverySource(t *testing.T) {
	dir := testenv.DebianImage(t)
	want := readPackagesTSV(t, filepath.Join(dir, "packages.tsv"))
	if len(want) < 80 {
		t.Fatalf("packages.tsv lists only %d packages", len(want))
	}
	refs := map[string]string{
		"docker-archive": "docker-archive:" + filepath.Join(dir, "image.docker.tar"),
		"oci":            "oci:" + filepath.Join(dir, "oci"),
		"dir":            "dir:" + filepath.Join(dir, "rootfs"),
		"bare tar":       filepath.Join(dir, "image.docker.tar"),
	}

	// The same image in a registry served over HTTP.
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img, err := tarball.ImageFromPath(filepath.Join(dir, "image.docker.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	regRef := strings.TrimPrefix(srv.URL, "http://") + "/bulwark-test/debian:bookworm"
	r, _ := name.ParseReference(regRef)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	refs["registry"] = regRef

	// And in the machine's Docker Engine.
	if out, err := exec.Command("docker", "load", "-i", filepath.Join(dir, "image.docker.tar")).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	refs["docker"] = "docker:bulwark-test/debian:bookworm-minbase"

	// And as an OCI layout tarball.
	ociTar := filepath.Join(t.TempDir(), "debian.oci.tar")
	if out, err := exec.Command("tar", "-C", filepath.Join(dir, "oci"), "-cf", ociTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	refs["oci-archive"] = "oci-archive:" + ociTar

	var diffIDs []string
	for kind, ref := range refs {
		t.Run(kind, func(t *testing.T) {
			doc := sbomJSON(t, "--no-cache", ref)
			if diff := cmp.Diff(want, debRows(t, doc)); diff != "" {
				t.Errorf("packages differ from packages.tsv (-want +got):\n%s", diff)
			}
			if doc.OS == nil || doc.OS.ID != "debian" || doc.OS.VersionID != "12" || doc.OS.EOL == nil {
				t.Errorf("OS: %+v", doc.OS)
			}
			if kind == "dir" {
				checkDebianLicences(t, filepath.Join(dir, "rootfs"), doc)
				if doc.Packages[0].Layer != nil {
					t.Errorf("a root filesystem has no layers, got %+v", doc.Packages[0].Layer)
				}
				return
			}
			if len(doc.Source.Layers) != 1 {
				t.Fatalf("layers: %+v", doc.Source.Layers)
			}
			diffIDs = append(diffIDs, doc.Source.Layers[0].DiffID)
			for _, p := range doc.Packages {
				if p.Layer == nil || p.Layer.DiffID != doc.Source.Layers[0].DiffID || p.Locations[0].Path != "var/lib/dpkg/status" {
					t.Fatalf("%s: layer %+v location %+v", p.Name, p.Layer, p.Locations)
				}
				pu, err := packageurl.FromString(p.PURL)
				if err != nil || pu.Type != "deb" || pu.Namespace != "debian" || pu.Name != p.Name || pu.Version != p.Version || pu.Qualifiers.Map()["distro"] != "debian-12" {
					t.Fatalf("%s: purl %s: %v", p.Name, p.PURL, err)
				}
			}
		})
	}
	for _, d := range diffIDs[1:] {
		if d != diffIDs[0] {
			t.Errorf("sources disagree on the layer: %v", diffIDs)
		}
	}
}

// checkDebianLicences compares declared licences with the License: lines
// sed reads from each machine-readable copyright file.
func checkDebianLicences(t *testing.T, rootfs string, doc *sbom.Document) {
	t.Helper()
	checked := 0
	for _, p := range doc.Packages {
		f := filepath.Join(rootfs, "usr", "share", "doc", p.Name, "copyright")
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(b), "Format:") {
			continue
		}
		out, err := exec.Command("sed", "-n", "s/^License:[[:space:]]*//p", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				want[l] = true
			}
		}
		got := map[string]bool{}
		for _, l := range p.Licenses {
			got[l] = true
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s licences (-sed +bulwark):\n%s", p.Name, diff)
		}
		checked++
	}
	if checked < 40 {
		t.Errorf("only %d packages had machine-readable copyright files", checked)
	}
}

// TestDebianFormatsValidate renders the Debian image in both SBOM
// standards and validates them against the official JSON schemas.
func TestDebianFormatsValidate(t *testing.T) {
	dir := testenv.DebianImage(t)
	ref := "oci:" + filepath.Join(dir, "oci")
	for format, schema := range map[string]string{"cyclonedx": "bom-1.6.schema.json", "spdx": "spdx-schema-2.3.json"} {
		code, out, errOut := run(t, nil, "sbom", "--no-cache", "--format", format, ref)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut)
		}
		testenv.ValidateJSONSchema(t, schema, []byte(out))
		if !strings.Contains(out, "pkg:deb/debian/libc6@") {
			t.Errorf("%s: no libc6 purl", format)
		}
	}
}

// TestCacheAndDeterminism scans an OCI layout cold, then warm, then with
// its layer blob deleted: the warm runs must read no layer and all three
// outputs must be byte-identical.
func TestCacheAndDeterminism(t *testing.T) {
	src := filepath.Join(testenv.DebianImage(t), "oci")
	layoutDir := filepath.Join(t.TempDir(), "oci")
	if out, err := exec.Command("cp", "-r", src, layoutDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	cache := t.TempDir()
	var outs []string
	for i := 0; i < 2; i++ {
		code, out, errOut := run(t, nil, "sbom", "--cache-dir", cache, "--format", "cyclonedx", "oci:"+layoutDir)
		if code != 0 {
			t.Fatalf("run %d: %s", i, errOut)
		}
		outs = append(outs, out)
	}
	// Remove the layer blobs: only the cache can answer now.
	doc := sbomJSON(t, "--no-cache", "oci:"+layoutDir)
	for _, l := range doc.Source.Layers {
		if err := os.Remove(filepath.Join(layoutDir, "blobs", "sha256", strings.TrimPrefix(l.Digest, "sha256:"))); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := run(t, nil, "sbom", "--cache-dir", cache, "--format", "cyclonedx", "oci:"+layoutDir)
	if code != 0 {
		t.Fatalf("warm run without layers: exit %d: %s", code, errOut)
	}
	outs = append(outs, out)
	for i := 1; i < len(outs); i++ {
		if outs[i] != outs[0] {
			t.Errorf("run %d differs from run 0:\n%s", i, cmp.Diff(outs[0], outs[i]))
		}
	}
	// Without the cache the missing blob is an error that names it.
	code, _, errOut = run(t, nil, "sbom", "--no-cache", "oci:"+layoutDir)
	if code != ExitError || !strings.Contains(errOut, "no such file") {
		t.Errorf("no cache, no blob: exit %d: %s", code, errOut)
	}
}

// TestAlpineGolden renders the corpus's alpine:3.10 docker save archive in
// every format and compares with golden files (go test -update rewrites
// them).
func TestAlpineGolden(t *testing.T) {
	archive := testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	for _, format := range report.SBOMFormats {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := run(t, nil, "sbom", "--no-cache", "--format", format, "docker-archive:"+archive)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			// The reference embeds the corpus path, verbatim and (in the
			// SPDX namespace) sanitized; make both stable wherever the
			// corpus lives.
			out = strings.ReplaceAll(out, archive, "ALPINE_ARCHIVE")
			out = strings.ReplaceAll(out, regexp.MustCompile(`[^a-zA-Z0-9.\-]+`).ReplaceAllString(archive, "-"), "ALPINE_ARCHIVE")
			assertGolden(t, "alpine-3.10."+format+".golden", out)
			switch format {
			case "cyclonedx":
				testenv.ValidateJSONSchema(t, "bom-1.6.schema.json", []byte(out))
			case "spdx":
				testenv.ValidateJSONSchema(t, "spdx-schema-2.3.json", []byte(out))
			}
		})
	}
}

func TestSBOMErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"sbom", "dir:/does/not/exist"}, "/does/not/exist"},
		{[]string{"sbom", "--format", "xml", "dir:."}, `--format "xml"`},
		{[]string{"sbom"}, "accepts 1 arg"},
		{[]string{"sbom", "oci:" + os.TempDir()}, "index.json"},
	}
	for _, tc := range tests {
		code, _, errOut := run(t, nil, tc.args...)
		if code != ExitError || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, ExitError, tc.msg)
		}
	}
}

func TestOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sbom.json")
	archive := testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	code, stdout, errOut := run(t, nil, "sbom", "--no-cache", "-f", "json", "-o", out, archive)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, errOut)
	}
	var doc sbom.Document
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Packages) != 14 {
		t.Fatalf("%v, %d packages", err, len(doc.Packages))
	}
	if doc.OS == nil || !doc.OS.EOLPassed {
		t.Errorf("alpine 3.10 must be reported past its end of life: %+v", doc.OS)
	}
}

// TestImageLinksAsDockerRunsThem: a real image, made by docker import,
// whose os-release is reached through a link that climbs past the root
// and which holds an absolute /etc/localtime link. Docker runs it (the
// climbing link reads /etc/passwd inside the container), and bulwark
// reads it from the Engine and from its docker save, finding the OS and
// the packages instead of refusing it.
func TestImageLinksAsDockerRunsThem(t *testing.T) {
	testenv.NeedDocker(t)
	root := t.TempDir()
	write := func(p, body string) {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(p, target string) {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	installed, err := os.ReadFile(testenv.CorpusPath(t, "pkgdb", "apk", "scalibr-installed"))
	if err != nil {
		t.Fatal(err)
	}
	write("lib/apk/db/installed", string(installed))
	write("usr/lib/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.0\n")
	write("etc/alpine-release", "3.18.0\n")
	write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/sbin/nologin\n")
	write("usr/share/zoneinfo/UTC", "TZif2")
	link("etc/os-release", "../../../../usr/lib/os-release")
	link("etc/climb", "../../../../../../etc/passwd")
	link("etc/localtime", "/usr/share/zoneinfo/UTC")
	cat := testenv.StaticProgram(t, "package main\n\nimport \"os\"\n\nfunc main() {\n\tb, err := os.ReadFile(os.Args[1])\n\tif err != nil {\n\t\tos.Exit(1)\n\t}\n\tos.Stdout.Write(b)\n}\n")
	b, _ := os.ReadFile(cat)
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "bin", "cat"), b, 0o755)
	rootfs := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", rootfs, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	tag := fmt.Sprintf("bulwark-test/links:%d", time.Now().UnixNano())
	docker := func(args ...string) string {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	docker("import", rootfs, tag)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	if out := docker("run", "--rm", "--read-only", "--user", "65534", "--network", "none", tag, "/bin/cat", "/etc/climb"); !strings.Contains(out, "nobody:x:65534") {
		t.Fatalf("in the container /etc/climb is not /etc/passwd: %q", out)
	}
	// A registry reference whose registry cannot be reached is read from
	// the Engine, and the user is told.
	unreachable := "127.0.0.1:1/" + tag
	docker("tag", tag, unreachable)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", unreachable).Run() })
	if code, _, errOut := run(t, nil, "sbom", "--no-cache", unreachable); code != 0 || !strings.Contains(errOut, "local Docker Engine") {
		t.Errorf("sbom %s with its registry unreachable: exit %d: %s", unreachable, code, errOut)
	}
	saved := filepath.Join(t.TempDir(), "links.tar")
	docker("save", "-o", saved, tag)
	for _, ref := range []string{"docker:" + tag, "docker-archive:" + saved} {
		code, out, errOut := run(t, nil, "sbom", "--no-cache", "-f", "json", ref)
		if code != 0 {
			t.Errorf("sbom %s: exit %d: %s", ref, code, errOut)
			continue
		}
		var doc sbom.Document
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		apks := 0
		for _, p := range doc.Packages {
			if p.Type == sbom.TypeAPK {
				apks++
			}
		}
		if doc.OS == nil || doc.OS.ID != "alpine" || doc.OS.VersionID != "3.18.0" || apks != 15 {
			t.Errorf("sbom %s: OS %+v, %d apk packages; want alpine 3.18.0 and the 15 packages of the corpus base", ref, doc.OS, apks)
		}
	}
}

// TestDirRootAsAnOrdinaryUser: sbom dir:ROOT, run by the real binary as an
// unprivileged user over a root with a mounted /proc and a directory that
// user cannot read, skips the pseudo-filesystem, records the unreadable
// directory as a status and inventories the rest.
func TestDirRootAsAnOrdinaryUser(t *testing.T) {
	bin := bulwarkBinary(t)
	os.Chmod(filepath.Dir(bin), 0o755)
	root, err := os.MkdirTemp("", "bulwark-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	status, _ := os.ReadFile(testenv.CorpusPath(t, "images", "debian-bookworm-minbase", "dpkg-status"))
	for p, body := range map[string]string{
		"etc/os-release":       "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
		"var/lib/dpkg/status":  string(status),
		"private/secret.txt":   "not for everyone",
		"usr/share/readme.txt": "hello",
	} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(body), 0o644)
	}
	os.Chmod(filepath.Join(root, "private"), 0o700)
	cmd := exec.Command(bin, "sbom", "--no-cache", "-f", "json", "dir:"+root)
	if os.Geteuid() == 0 {
		// As root, mount a real /proc inside the root and run as nobody.
		os.Mkdir(filepath.Join(root, "proc"), 0o555)
		if out, err := exec.Command("mount", "-t", "proc", "proc", filepath.Join(root, "proc")).CombinedOutput(); err != nil {
			t.Fatalf("mount proc: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", filepath.Join(root, "proc")).Run() })
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = "/"
	} else {
		os.Chmod(filepath.Join(root, "private"), 0)
		t.Cleanup(func() { os.Chmod(filepath.Join(root, "private"), 0o700) })
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sbom dir:%s: %v\n%s", root, err, stderr.String())
	}
	var doc sbom.Document
	if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Packages) < 80 || doc.OS == nil || doc.OS.ID != "debian" {
		t.Errorf("%d packages, OS %+v: the readable part was not inventoried", len(doc.Packages), doc.OS)
	}
	var unreadable []string
	for _, s := range doc.Status {
		if strings.HasPrefix(s.Path, "proc") {
			t.Errorf("the mounted /proc was walked: %+v", s)
		}
		if s.Cataloger == "filesystem" {
			unreadable = append(unreadable, s.Path+": "+s.Error)
		}
	}
	if diff := cmp.Diff([]string{"private: open: permission denied"}, unreadable); diff != "" {
		t.Errorf("unreadable entries (-want +got):\n%s", diff)
	}
}
