package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"bulwark.dev/bulwark/internal/testenv"
)

// tarEntry describes one entry of a test layer.
type tarEntry struct {
	name, link, body string
	typ              byte
	mode             int64
}

func mkTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func memLayer(index int, stored, uncompressed []byte) *Layer {
	return &Layer{Index: index, DiffID: sha(uncompressed), Digest: sha(stored), Size: int64(len(stored)),
		open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(stored)), nil }}
}

// flatten reads layers in order into a tree.
func flatten(t testing.TB, budget *Budget, layers ...[]byte) (*Tree, error) {
	t.Helper()
	tree := NewTree()
	for i, raw := range layers {
		l := memLayer(i, gz(raw), raw)
		err := ReadLayer(context.Background(), l, ReadOptions{Budget: budget}, func(e *Entry, r io.Reader) error {
			return tree.Apply(i, e)
		})
		if err != nil {
			return nil, err
		}
	}
	return tree, nil
}

func listTree(tr *Tree) map[string]string {
	out := map[string]string{}
	tr.Walk(func(p string, n *Node) error {
		out[p] = fmt.Sprintf("%s@%d", n.Type, n.Layer)
		return nil
	})
	return out
}

func TestWhiteouts(t *testing.T) {
	l0 := mkTar(t,
		tarEntry{name: "a/", typ: tar.TypeDir},
		tarEntry{name: "a/b", body: "b"},
		tarEntry{name: "a/c", body: "c"},
		tarEntry{name: "x/old", body: "old"},
		tarEntry{name: "gone/deep/file", body: "f"},
		tarEntry{name: "keep", body: "k"},
	)
	l1 := mkTar(t,
		tarEntry{name: "a/.wh.b", body: ""},
		tarEntry{name: "x/new", body: "new"},
		tarEntry{name: "x/.wh..wh..opq", body: ""},
		tarEntry{name: ".wh.gone", body: ""},
		tarEntry{name: "keep", body: "k2"},
		tarEntry{name: ".wh..wh.plnk/123", body: ""},
	)
	tree, err := flatten(t, nil, l0, l1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"a":     "dir@0",
		"a/c":   "file@0",
		"x":     "dir@0",
		"x/new": "file@1",
		"keep":  "file@1",
	}
	if diff := cmp.Diff(want, listTree(tree)); diff != "" {
		t.Errorf("flattened tree (-want +got):\n%s", diff)
	}
}

func TestHostileLayers(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]byte
		want   error
		msg    string
	}{
		{"escaping name", [][]byte{mkTar(t, tarEntry{name: "../../etc/evil", body: "x"})}, ErrHostile, "escapes the image root"},
		{"escaping name after clean", [][]byte{mkTar(t, tarEntry{name: "a/../../evil", body: "x"})}, ErrHostile, "escapes"},
		{"escaping hard link", [][]byte{mkTar(t, tarEntry{name: "h", link: "../etc/shadow", typ: tar.TypeLink})}, ErrHostile, "outside the image root"},
		{"escaping absolute hard link", [][]byte{mkTar(t, tarEntry{name: "h", link: "/../../etc/shadow", typ: tar.TypeLink})}, ErrHostile, "outside the image root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flatten(t, nil, tc.layers...)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

// TestLinksAsTheContainerSeesThem: what Docker applies is read, not
// refused. Links that climb past the root stop at it (as ".." does at "/"
// in the container), absolute links and hard links start at the image
// root, devices are listed (never created), and an entry written through
// a lower layer's symlinked directory lands at the link's target inside
// the image.
func TestLinksAsTheContainerSeesThem(t *testing.T) {
	tree, err := flatten(t, nil,
		mkTar(t,
			tarEntry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
			tarEntry{name: "etc/climb", link: "../../../../../../etc/passwd", typ: tar.TypeSymlink},
			tarEntry{name: "usr/share/zoneinfo/UTC", body: "TZif"},
			tarEntry{name: "etc/localtime", link: "/usr/share/zoneinfo/UTC", typ: tar.TypeSymlink},
			tarEntry{name: "etc/hard", link: "/etc/passwd", typ: tar.TypeLink},
			tarEntry{name: "dev/null", typ: tar.TypeChar},
			tarEntry{name: "evil", link: "/etc", typ: tar.TypeSymlink},
			tarEntry{name: "lib", link: "usr/lib", typ: tar.TypeSymlink},
			tarEntry{name: "usr/lib/", typ: tar.TypeDir},
		),
		mkTar(t,
			tarEntry{name: "evil/shadow", body: "root:*:1::::::"},
			tarEntry{name: "lib/libc.so", body: "ELF"},
			tarEntry{name: "lib/.wh.gone"},
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"etc/climb": "etc/passwd", "etc/localtime": "usr/share/zoneinfo/UTC", "evil/shadow": "etc/shadow", "lib/libc.so": "usr/lib/libc.so"} {
		got, n, err := tree.Resolve(p)
		if err != nil || got != want || n.Type != TypeFile {
			t.Errorf("Resolve(%q) = %q, %v; want the file %q", p, got, err, want)
		}
	}
	want := map[string]string{"etc/shadow": "file@1", "usr/lib/libc.so": "file@1", "evil": "symlink@0", "lib": "symlink@0", "dev/null": "other@0", "etc/hard": "hardlink@0"}
	got := listTree(tree)
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: %q, want %q", p, got[p], w)
		}
	}
	if rp, n, ok := tree.Lookup("lib/libc.so"); !ok || rp != "usr/lib/libc.so" || n.Layer != 1 {
		t.Errorf("Lookup(lib/libc.so) = %q %+v %v", rp, n, ok)
	}
	if n, _ := tree.Get("etc/hard"); n.Link != "etc/passwd" {
		t.Errorf("hard link to /etc/passwd: %+v", n)
	}
}

func TestAbsoluteSymlinksResolveInsideRoot(t *testing.T) {
	tree, err := flatten(t, nil, mkTar(t,
		tarEntry{name: "usr/lib/os-release", body: "ID=debian"},
		tarEntry{name: "etc/os-release", link: "../usr/lib/os-release", typ: tar.TypeSymlink},
		tarEntry{name: "etc/abs", link: "/usr/lib/os-release", typ: tar.TypeSymlink},
		tarEntry{name: "up", link: "/../../../usr/lib", typ: tar.TypeSymlink},
		tarEntry{name: "loop1", link: "loop2", typ: tar.TypeSymlink},
		tarEntry{name: "loop2", link: "loop1", typ: tar.TypeSymlink},
	))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/os-release", "etc/abs", "up/os-release"} {
		got, n, err := tree.Resolve(p)
		if err != nil || got != "usr/lib/os-release" || n.Type != TypeFile {
			t.Errorf("Resolve(%q) = %q, %v", p, got, err)
		}
	}
	if _, _, err := tree.Resolve("loop1"); !errors.Is(err, ErrLoop) {
		t.Errorf("loop: %v", err)
	}
	if _, _, err := tree.Resolve("missing/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestDecompressionBomb(t *testing.T) {
	big := mkTar(t, tarEntry{name: "zeros", body: strings.Repeat("\x00", 64<<20)})
	stored := gz(big)
	if len(stored) > 1<<20 {
		t.Fatalf("bomb is %d bytes compressed", len(stored))
	}
	l := memLayer(0, stored, big)
	err := ReadLayer(context.Background(), l, ReadOptions{Budget: NewBudget(Limits{MaxBytes: 8 << 20})}, func(*Entry, io.Reader) error { return nil })
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("got %v, want ErrLimit", err)
	}
	// The file count cap.
	many := make([]tarEntry, 50)
	for i := range many {
		many[i] = tarEntry{name: fmt.Sprintf("f%d", i), body: "x"}
	}
	raw := mkTar(t, many...)
	err = ReadLayer(context.Background(), memLayer(0, raw, raw), ReadOptions{Budget: NewBudget(Limits{MaxFiles: 10})}, func(*Entry, io.Reader) error { return nil })
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("file cap: got %v", err)
	}
}

func TestTruncatedAndTampered(t *testing.T) {
	raw := mkTar(t, tarEntry{name: "a", body: strings.Repeat("data", 10000)})
	stored := gz(raw)
	drain := func(*Entry, io.Reader) error { return nil }
	l := memLayer(0, stored[:len(stored)/2], raw)
	l.Digest = ""
	if err := ReadLayer(context.Background(), l, ReadOptions{}, drain); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated gzip: %v", err)
	}
	l = memLayer(0, stored, raw)
	l.DiffID = sha([]byte("something else"))
	if err := ReadLayer(context.Background(), l, ReadOptions{}, drain); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong diff ID: %v", err)
	}
	l = memLayer(0, stored, raw)
	l.Digest = sha([]byte("other blob"))
	if err := ReadLayer(context.Background(), l, ReadOptions{}, drain); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong blob digest: %v", err)
	}
}

func TestParseRef(t *testing.T) {
	dir := t.TempDir()
	ociDir := filepath.Join(dir, "layout")
	if _, err := layout.Write(ociDir, empty.Index); err != nil {
		t.Fatal(err)
	}
	img, _ := random.Image(100, 1)
	dockerTar := filepath.Join(dir, "img.tar")
	if err := tarball.WriteToFile(dockerTar, name.MustParseReference("example.com/x:1"), img); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want Ref
	}{
		{"alpine:3.20", Ref{Kind: KindRegistry, Name: "alpine:3.20"}},
		{"127.0.0.1:5000/a/b@sha256:" + strings.Repeat("a", 64), Ref{Kind: KindRegistry, Name: "127.0.0.1:5000/a/b@sha256:" + strings.Repeat("a", 64)}},
		{"oci:/x/y:v1", Ref{Kind: KindOCI, Path: "/x/y", Tag: "v1"}},
		{"oci:/x/y", Ref{Kind: KindOCI, Path: "/x/y"}},
		{"oci-archive:a.tar", Ref{Kind: KindOCIArchive, Path: "a.tar"}},
		{"docker-archive:/tmp/a.tar:app:1", Ref{Kind: KindDockerArchive, Path: "/tmp/a.tar", Tag: "app:1"}},
		{"docker:nginx:latest", Ref{Kind: KindDocker, Name: "nginx:latest"}},
		{"dir:/", Ref{Kind: KindDir, Path: "/"}},
		{ociDir, Ref{Kind: KindOCI, Path: ociDir}},
		{dockerTar, Ref{Kind: KindDockerArchive, Path: dockerTar}},
	}
	for _, tc := range tests {
		got, err := ParseRef(tc.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tc.in, err)
			continue
		}
		tc.want.Raw = tc.in
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseRef(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"", "dir:", "oci:", "docker:", "Not A Valid/Ref!!", dir} {
		if _, err := ParseRef(bad); !errors.Is(err, ErrBadRef) {
			t.Errorf("ParseRef(%q) = %v, want ErrBadRef", bad, err)
		}
	}
	// What a user meant, said in the user's terms: a missing file is not a
	// registry pull, another tool's prefix is named, a URL is explained
	// without Go identifiers.
	for in, want := range map[string]string{
		"/nonexistent/x.tar":        "no such file or directory",
		"./image.tar.gz":            "no such file or directory",
		"podman:alpine":             `"podman:" is not a reference kind bulwark reads`,
		"containers-storage:alpine": `"containers-storage:" is not a reference kind`,
		"https://ghcr.io/org/app:1": "without https://",
	} {
		_, err := ParseRef(in)
		if !errors.Is(err, ErrBadRef) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "name.") {
			t.Errorf("ParseRef(%q) = %v, want an error saying %q", in, err, want)
		}
	}
	// A docker save archive's path comes first, then a tag with a colon.
	archive := testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	ref, err := ParseRef("docker-archive:" + archive + ":alpine:3.10")
	if err != nil || ref.Path != archive || ref.Tag != "alpine:3.10" {
		t.Fatalf("docker-archive:FILE:alpine:3.10 = %+v, %v", ref, err)
	}
	opened, err := Open(context.Background(), ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	opened.Close()
}

// TestRegistryPlatforms pushes a two-platform index to a real registry
// over HTTP and selects from it.
func TestRegistryPlatforms(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	var idx v1.ImageIndex = empty.Index
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}} {
		img, _ := random.Image(256, 2)
		cf, _ := img.ConfigFile()
		cf.OS, cf.Architecture = p.OS, p.Architecture
		img, _ = mutate.ConfigFile(img, cf)
		pp := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pp}})
	}
	ref, _ := name.ParseReference(host + "/multi:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	r, _ := ParseRef(host + "/multi:1")
	img, err := Open(context.Background(), r, Options{Platform: "linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Platform != "linux/arm64" || len(img.Layers) != 2 || img.Tag != "1" {
		t.Errorf("got platform %q, %d layers, tag %q", img.Platform, len(img.Layers), img.Tag)
	}
	for _, l := range img.Layers {
		if err := ReadLayer(context.Background(), l, ReadOptions{}, func(*Entry, io.Reader) error { return nil }); err != nil {
			t.Errorf("layer %d: %v", l.Index, err)
		}
	}
	_, err = Open(context.Background(), r, Options{Platform: "linux/s390x"})
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Errorf("missing platform: %v", err)
	}
}

// TestTamperedLayout edits a manifest in an OCI layout; the digest check
// must refuse it.
func TestTamperedLayout(t *testing.T) {
	dir := t.TempDir()
	img, _ := random.Image(128, 1)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	mf := filepath.Join(dir, "blobs", "sha256", d.Hex)
	b, _ := os.ReadFile(mf)
	os.WriteFile(mf, bytes.Replace(b, []byte(`"schemaVersion": 2`), []byte(`"schemaVersion":2 `), 1), 0o644)
	b2, _ := os.ReadFile(mf)
	if bytes.Equal(b, b2) {
		b2 = append(b, ' ')
		os.WriteFile(mf, b2, 0o644)
	}
	_, err = Open(context.Background(), Ref{Kind: KindOCI, Path: dir, Raw: "oci:" + dir}, Options{})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("got %v, want ErrDigestMismatch", err)
	}
}

// TestOCIArchiveNothingEscapes feeds an OCI archive whose entries try to
// leave the temporary directory.
func TestOCIArchiveNothingEscapes(t *testing.T) {
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	os.Mkdir(tmp, 0o700)
	archive := filepath.Join(base, "evil.tar")
	for name, entries := range map[string][]tarEntry{
		"dotdot":  {{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`}, {name: "../../escaped", body: "x"}},
		"symlink": {{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`}, {name: "blobs", link: "/", typ: tar.TypeSymlink}},
	} {
		os.WriteFile(archive, mkTar(t, entries...), 0o644)
		_, err := Open(context.Background(), Ref{Kind: KindOCIArchive, Path: archive, Raw: archive}, Options{TempDir: tmp})
		if !errors.Is(err, ErrHostile) {
			t.Errorf("%s: got %v, want ErrHostile", name, err)
		}
	}
	var found []string
	filepath.WalkDir(filepath.Dir(base), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "escaped" {
			found = append(found, p)
		}
		return nil
	})
	left, _ := os.ReadDir(tmp)
	if len(found) > 0 || len(left) > 0 {
		t.Errorf("written outside or left behind: %v %v", found, left)
	}
}

// TestAlpineDockerArchive reads the corpus's real `docker save` of
// alpine:3.10 (gzip-compressed as a whole).
func TestAlpineDockerArchive(t *testing.T) {
	f := testenv.CorpusPath(t, "images", "alpine-3.10-docker-archive", "alpine-310.tar.gz")
	ref, err := ParseRef(f)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Kind != KindDockerArchive {
		t.Fatalf("detected %s", ref.Kind)
	}
	img, err := Open(context.Background(), ref, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	tree := NewTree()
	for _, l := range img.Layers {
		if err := ReadLayer(context.Background(), l, ReadOptions{}, func(e *Entry, r io.Reader) error { return tree.Apply(l.Index, e) }); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	tree.Walk(func(p string, n *Node) error {
		if strings.HasPrefix(p, "lib/apk/db/") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	if !cmp.Equal(files, []string{"lib/apk/db/installed", "lib/apk/db/lock", "lib/apk/db/scripts.tar", "lib/apk/db/triggers"}) {
		t.Errorf("apk db files: %v", files)
	}
	if img.Platform != "linux/amd64" || img.ID == "" || len(img.Layers) != 1 || img.Layers[0].CreatedBy == "" {
		t.Errorf("image metadata: %q %q %d layers %+v", img.Platform, img.ID, len(img.Layers), img.Layers[0])
	}
}

func FuzzReadLayer(f *testing.F) {
	f.Add(mkTar(f, tarEntry{name: "a/b", body: "x"}, tarEntry{name: "a/.wh.b"}, tarEntry{name: "l", link: "/a", typ: tar.TypeSymlink}))
	f.Add(gz(mkTar(f, tarEntry{name: "../x", body: "x"})))
	f.Add(mkTar(f, tarEntry{name: "e", link: "../../../etc", typ: tar.TypeSymlink}, tarEntry{name: "e/p", body: "x"}, tarEntry{name: "h", link: "/e/p", typ: tar.TypeLink}))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &Layer{open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
		tree := NewTree()
		err := ReadLayer(context.Background(), l, ReadOptions{Budget: NewBudget(Limits{MaxBytes: 1 << 20, MaxFiles: 1000})}, func(e *Entry, r io.Reader) error {
			if strings.HasPrefix(e.Path, "../") || strings.HasPrefix(e.Path, "/") || e.Path == ".." {
				t.Fatalf("escaping path accepted: %q", e.Path)
			}
			return tree.Apply(0, e)
		})
		_ = err
		tree.Walk(func(p string, n *Node) error {
			// Whatever the links say, every node stays inside the root.
			if p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") || strings.Contains(p, "/../") {
				t.Fatalf("node outside the root: %q", p)
			}
			if rp, _, err := tree.Resolve(p); err == nil && (strings.HasPrefix(rp, "../") || strings.HasPrefix(rp, "/")) {
				t.Fatalf("%q resolves outside the root: %q", p, rp)
			}
			return nil
		})
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"alpine", "oci:/a:b", "docker-archive:x.tar", "dir:/", "a/b@sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err == nil && r.Kind == "" {
			t.Fatalf("no kind for %q", s)
		}
	})
}

func TestZstdLayers(t *testing.T) {
	raw := mkTar(t, tarEntry{name: "etc/os-release", body: "ID=test\n"})
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	stored := buf.Bytes()
	var names []string
	err := ReadLayer(context.Background(), memLayer(0, stored, raw), ReadOptions{}, func(e *Entry, r io.Reader) error {
		names = append(names, e.Path)
		return nil
	})
	if err != nil || !cmp.Equal(names, []string{"etc/os-release"}) {
		t.Fatalf("zstd layer: %v %v", names, err)
	}
	l := memLayer(0, stored[:len(stored)-6], raw)
	l.Digest = ""
	if err := ReadLayer(context.Background(), l, ReadOptions{}, func(*Entry, io.Reader) error { return nil }); err == nil {
		t.Error("truncated zstd layer accepted")
	}
}
