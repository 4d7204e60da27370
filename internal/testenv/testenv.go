// Package testenv finds the real data bulwark's tests run on: the shared
// corpus (through BULWARK_CORPUS, which .ci/run always sets) and a Debian
// image rebuilt from Debian's packages. It is imported only by tests.
package testenv

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Corpus returns the corpus directory. Outside CI, ../shared/corpus next
// to the repository is used when BULWARK_CORPUS is unset; without either
// the test is skipped with the reason (CI always sets it).
func Corpus(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BULWARK_CORPUS"); d != "" {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("BULWARK_CORPUS=%s: %v", d, err)
		}
		return d
	}
	d := filepath.Join(repoRoot(t), "..", "shared", "corpus")
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("BULWARK_CORPUS is not set and %s does not exist", d)
		}
		t.Skipf("corpus not found: set BULWARK_CORPUS (CI sets it)")
	}
	return d
}

// CorpusPath joins elements onto the corpus directory.
func CorpusPath(t testing.TB, elem ...string) string {
	return filepath.Join(append([]string{Corpus(t)}, elem...)...)
}

func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// RepoRoot returns the repository's top directory.
func RepoRoot(t testing.TB) string { return repoRoot(t) }

// DebianImage returns a directory holding the Debian bookworm minbase
// image built by the corpus's build-debian-image.sh: image.docker.tar,
// oci/, rootfs/ and packages.tsv. BULWARK_DEBIAN_IMAGE names a prebuilt
// one; otherwise it is built once (about two minutes; needs root and
// debootstrap, which .ci/run installs) under BULWARK_TEST_CACHE or the
// user cache directory, under a lock shared by parallel test binaries.
func DebianImage(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("BULWARK_DEBIAN_IMAGE"); d != "" {
		return d
	}
	base := os.Getenv("BULWARK_TEST_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(c, "bulwark-test")
	}
	dir := filepath.Join(base, "debian-bookworm")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(base, "debian-bookworm.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(dir, "packages.tsv")); err == nil {
		return dir
	}
	script := filepath.Join(Corpus(t), "..", "tools", "build-debian-image.sh")
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("debootstrap is not installed; .ci/run must install it")
		}
		t.Skip("debootstrap is not installed (apt-get install -y debootstrap); CI installs it")
	}
	os.RemoveAll(dir)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	cmd := exec.Command("bash", script, tmp, "bookworm")
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1735689600")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build Debian image: %v\n%s", err, tail(out))
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// GoModule is a module a test binary requires.
type GoModule struct {
	Path, Version string
	// Replace, if set, is "path version" or a local path.
	Replace string
	// Import is a package of the module to import (default: Path).
	Import string
}

// BuildGoBinary builds a small program that imports the given modules at
// exactly the given versions (through the Go module proxy) and returns
// the path of the executable and the toolchain version ("go1.26.8").
func BuildGoBinary(t testing.TB, modules []GoModule) (bin, goVersion string) {
	t.Helper()
	dir := t.TempDir()
	gomod := "module example.com/bulwarktest\n\ngo 1.22\n\nrequire (\n"
	for _, m := range modules {
		gomod += fmt.Sprintf("\t%s %s\n", m.Path, m.Version)
	}
	gomod += ")\n"
	for _, m := range modules {
		if m.Replace != "" {
			gomod += fmt.Sprintf("replace %s => %s\n", m.Path, m.Replace)
		}
	}
	// A blank import links each module in without needing its API.
	src := "package main\n\nimport (\n"
	for _, m := range modules {
		imp := m.Import
		if imp == "" {
			imp = m.Path
		}
		src += fmt.Sprintf("\t_ %q\n", imp)
	}
	src += ")\n\nfunc main() {}\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("mod", "download", "all")
	bin = filepath.Join(dir, "app")
	run("build", "-o", bin, ".")
	v := run("env", "GOVERSION")
	return bin, strings.TrimSpace(v)
}

// ValidateJSONSchema checks doc against one of the official schemas in
// testdata/schemas (with the schemas it references loaded from there).
func ValidateJSONSchema(t testing.TB, schemaFile string, doc []byte) {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testdata", "schemas")
	c := jsonschema.NewCompiler()
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var main string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		id, _ := v.(map[string]any)["$id"].(string)
		if id == "" {
			id, _ = v.(map[string]any)["id"].(string) // draft-04 (SARIF)
		}
		if id == "" {
			id = "file://" + f
		}
		if err := c.AddResource(id, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if filepath.Base(f) == schemaFile {
			main = id
		}
	}
	if main == "" {
		t.Fatalf("schema %s not found in %s", schemaFile, dir)
	}
	sch, err := c.Compile(main)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("document does not validate against %s: %v", schemaFile, err)
	}
}

// OCILayout writes img into a new OCI layout directory and returns its
// bulwark reference ("oci:DIR").
func OCILayout(t testing.TB, img v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return "oci:" + dir
}

// VulnerableGoImage is a one-layer image holding a Go binary built
// against golang.org/x/text v0.3.5, which the corpus's Go vulnerability
// database (osv/go-vulndb) flags (GO-2021-0113, high).
func VulnerableGoImage(t testing.TB) v1.Image {
	t.Helper()
	bin, _ := BuildGoBinary(t, []GoModule{
		{Path: "golang.org/x/text", Version: "v0.3.5", Import: "golang.org/x/text/language"},
	})
	layerTar := filepath.Join(t.TempDir(), "layer.tar")
	if out, err := exec.Command("tar", "-cf", layerTar, "--transform", "s|.*app$|usr/local/bin/app|", "-C", filepath.Dir(bin), "app").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	l, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		t.Fatal(err)
	}
	return imageOf(t, l)
}

func imageOf(t testing.TB, l v1.Layer) v1.Image {
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ReadLayers reads every layer of a pulled image to the end, which makes
// go-containerregistry check each one's digest: the image is whole.
func ReadLayers(t testing.TB, img v1.Image) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
}

// AlpineImage is the corpus's real alpine:3.10 (a gzipped docker save,
// from Dockle's tests): 14 apk packages on an OS past its end of life.
func AlpineImage(t testing.TB) v1.Image {
	t.Helper()
	path := CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	img, err := tarball.Image(func() (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{gz, f}, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// StaticProgram builds a static executable from one file of Go source
// (package main, standard library only), for images that must run.
func StaticProgram(t testing.TB, src string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/prog\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644)
	bin := filepath.Join(dir, "prog")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// NeedDocker skips a test where there is no docker CLI, and fails it in
// CI, whose machines have a Docker Engine.
func NeedDocker(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker is not installed: the CI machine has a Docker Engine")
		}
		t.Skip("no docker CLI")
	}
}

// TarFile is one regular file of a test layer.
type TarFile struct {
	Name string
	Mode int64
	Body string
}

// OneLayerImage is an image of one layer holding files, in order.
func OneLayerImage(t testing.TB, files ...TarFile) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.Body))
	}
	tw.Close()
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return imageOf(t, l)
}

// Docker runs the docker CLI and returns its trimmed output; a failure
// ends the test with the output.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
