package inventory_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/inventory/catalog"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/testenv"
	"fmt"
	"io/fs"
)

// scanImage scans img as the CLI does: from an OCI layout on disk.
func scanImage(t *testing.T, s *inventory.Scanner, img v1.Image) *inventory.Result {
	t.Helper()
	ref, err := image.ParseRef(testenv.OCILayout(t, img))
	if err != nil {
		t.Fatal(err)
	}
	oimg, err := image.Open(context.Background(), ref, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer oimg.Close()
	res, err := s.Scan(context.Background(), oimg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func layerOf(t *testing.T, files map[string]string) v1.Layer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}
		if len(body) > 0 && body[0] == '>' { // a symlink
			h = &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: body[1:]}
		}
		tw.WriteHeader(h)
		if h.Typeflag != tar.TypeSymlink {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const apk1 = "P:musl\nV:1.2.4-r0\nA:x86_64\n\nP:busybox\nV:1.36.0-r9\nA:x86_64\n\n"
const apk2 = apk1 + "P:curl\nV:8.1.0-r0\nA:x86_64\n\n"

// TestLayerAttribution builds a three-layer image: the base installs two
// packages, the second adds one (rewriting the database), the third
// deletes a Python distribution the base had. Each package must be
// attributed to the layer that introduced it, and deleted files must not
// count.
func TestLayerAttribution(t *testing.T) {
	meta := "Metadata-Version: 2.1\nName: requests\nVersion: 2.0.0\n"
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: layerOf(t, map[string]string{
			"etc/alpine-release":   "3.18.4\n",
			"usr/lib/os-release":   "ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n",
			"etc/os-release":       ">../usr/lib/os-release",
			"lib/apk/db/installed": apk1,
			"usr/lib/python3.11/site-packages/requests-2.0.0.dist-info/METADATA": meta,
		}), History: v1.History{CreatedBy: "ADD rootfs"}},
		mutate.Addendum{Layer: layerOf(t, map[string]string{"lib/apk/db/installed": apk2}), History: v1.History{CreatedBy: "RUN apk add curl"}},
		mutate.Addendum{Layer: layerOf(t, map[string]string{"usr/lib/python3.11/site-packages/.wh.requests-2.0.0.dist-info": ""}), History: v1.History{CreatedBy: "RUN pip uninstall requests"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	res := scanImage(t, &inventory.Scanner{Extractors: catalog.All(), Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}, img)
	got := map[string]int{}
	for _, pk := range res.Doc.Packages {
		got[pk.Name] = pk.Layer.Index
		if pk.Locations[0].Layer.Index != 1 {
			t.Errorf("%s: database last written by layer %d, want 1", pk.Name, pk.Locations[0].Layer.Index)
		}
	}
	if diff := cmp.Diff(map[string]int{"musl": 0, "busybox": 0, "curl": 1}, got); diff != "" {
		t.Errorf("introducing layers (-want +got):\n%s", diff)
	}
	o := res.Doc.OS
	if o == nil || o.ID != "alpine" || o.VersionID != "3.18.4" || o.EOL == nil {
		t.Fatalf("OS %+v", o)
	}
	if !o.EOLPassed || o.EOL.Format(time.DateOnly) != "2025-05-09" {
		t.Errorf("alpine 3.18 EOL %v passed=%v", o.EOL, o.EOLPassed)
	}
	if res.Doc.Source.Layers[1].CreatedBy != "RUN apk add curl" {
		t.Errorf("history: %+v", res.Doc.Source.Layers)
	}
	for _, pk := range res.Doc.Packages {
		if pk.Name == "curl" && pk.PURL != "pkg:apk/alpine/curl@8.1.0-r0?arch=x86_64&distro=alpine-3.18.4" {
			t.Errorf("purl %s", pk.PURL)
		}
	}
}

// TestOversizedFilesBecomeStatus scans with a tiny --max-file-size: the
// databases are not read, each cataloger that wanted one says so, and
// the scan still succeeds.
func TestOversizedFilesBecomeStatus(t *testing.T) {
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layerOf(t, map[string]string{
		"lib/apk/db/installed": apk2,
		"etc/os-release":       "ID=alpine\nVERSION_ID=3.18.4\n",
	})})
	if err != nil {
		t.Fatal(err)
	}
	res := scanImage(t, &inventory.Scanner{Extractors: catalog.All(), MaxFileSize: 16}, img)
	if len(res.Doc.Packages) != 0 {
		t.Errorf("packages from an unread file: %v", res.Doc.Packages)
	}
	if len(res.Doc.Status) != 1 || res.Doc.Status[0].Cataloger != "apk" || !strings.Contains(res.Doc.Status[0].Error, "--max-file-size") {
		t.Errorf("status: %+v", res.Doc.Status)
	}
}

func TestEOLTable(t *testing.T) {
	tab := inventory.DefaultEOL()
	for _, tc := range []struct {
		id, version, want string
	}{
		{"alpine", "3.18.4", "2025-05-09"},
		{"alpine", "3.1.0", ""},
		{"debian", "12", "2028-06-30"},
		{"ubuntu", "22.04", "2027-06-01"},
		{"rhel", "8.9", "2029-05-31"},
		{"amzn", "2023", "2029-06-30"},
	} {
		d, ok := tab.Lookup(tc.id, tc.version)
		got := ""
		if ok {
			got = d.Format(time.DateOnly)
		}
		if got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.id, tc.version, got, tc.want)
		}
	}
	if _, err := inventory.ParseEOL([]byte("alpine:\n  \"3.1\": not-a-date\n")); err == nil {
		t.Error("bad date accepted")
	}
	if _, err := inventory.ParseEOL([]byte("alpine: [1, 2]\n")); err == nil {
		t.Error("bad shape accepted")
	}
}

func TestDetectOS(t *testing.T) {
	tests := []struct {
		facts          map[string]string
		id, ver, famil string
	}{
		{map[string]string{"etc/os-release": "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n"}, "ubuntu", "22.04", "debian"},
		{map[string]string{"etc/debian_version": "11.7\n"}, "debian", "11", "debian"},
		{map[string]string{"etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n"}, "centos", "7.9.2009", "rhel"},
		{map[string]string{"etc/os-release": "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n"}, "rocky", "9.3", "rhel"},
		{map[string]string{"usr/lib/os-release": "ID=wolfi\nVERSION_ID=20230201\n"}, "wolfi", "20230201", "wolfi"},
	}
	for _, tc := range tests {
		f := map[string][]byte{}
		for k, v := range tc.facts {
			f[k] = []byte(v)
		}
		o := inventory.DetectOS(f)
		if o == nil || o.ID != tc.id || o.VersionID != tc.ver || o.Family != tc.famil {
			t.Errorf("%v: %+v", tc.facts, o)
		}
	}
	if inventory.DetectOS(map[string][]byte{}) != nil {
		t.Error("OS detected from nothing")
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=\"debian\"\nVERSION_ID='12'\n# c\nX=\\\"y\\\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		inventory.ParseOSRelease(b)
		inventory.DetectOS(map[string][]byte{"etc/os-release": b, "etc/alpine-release": b, "etc/redhat-release": b})
	})
}

func TestDebianCopyrightLicenses(t *testing.T) {
	dep5 := "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n\nFiles: x\nLicense: BSD-3-clause\n text\nLicense: GPL-2+\n"
	free := "This is free software.\nOn Debian systems see /usr/share/common-licenses/GPL-2.\nAnd /usr/share/common-licenses/LGPL-2.1 too.\n"
	for in, want := range map[string][]string{dep5: {"GPL-2+", "BSD-3-clause"}, free: {"GPL-2", "LGPL-2.1"}, "nothing": nil} {
		if diff := cmp.Diff(want, inventory.DebianCopyrightLicenses([]byte(in))); diff != "" {
			t.Errorf("%q: %s", in, diff)
		}
	}
}

// hostile is a cataloger that never returns on its own (it ignores its
// context) or floods its output: the scan must still end, with a status
// entry naming it, and the other catalogers' packages.
type hostile struct{ flood bool }

func (hostile) Name() string { return "hostile" }
func (hostile) Version() int { return 1 }
func (hostile) Required(p string, _ fs.FileMode, _ int64) bool {
	return p == "var/lib/hostile/db"
}
func (h hostile) Extract(ctx context.Context, in *inventory.Input) ([]sbom.Package, error) {
	if h.flood {
		out := make([]sbom.Package, 20000)
		for i := range out {
			out[i] = sbom.Package{Name: fmt.Sprint("p", i), Version: "1", Type: "generic"}
		}
		return out, nil
	}
	for {
		time.Sleep(time.Millisecond) // spins, deaf to ctx
	}
}

func TestCatalogerBudgets(t *testing.T) {
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layerOf(t, map[string]string{
		"lib/apk/db/installed": apk2,
		"etc/os-release":       "ID=alpine\nVERSION_ID=3.18.4\n",
		"var/lib/hostile/db":   "x",
	})})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []hostile{{flood: false}, {flood: true}} {
		s := &inventory.Scanner{Extractors: append(catalog.All(), h), ExtractTimeout: func(int64) time.Duration { return 200 * time.Millisecond }}
		res := scanImage(t, s, img)
		var status []string
		for _, st := range res.Doc.Status {
			status = append(status, st.Cataloger+": "+st.Error)
		}
		if len(status) != 1 || !strings.HasPrefix(status[0], "hostile: over budget") {
			t.Errorf("flood %v: status %q", h.flood, status)
		}
		apks := 0
		for _, p := range res.Doc.Packages {
			if p.Type == sbom.TypeAPK {
				apks++
			}
		}
		if apks == 0 {
			t.Errorf("flood %v: the apk packages were lost", h.flood)
		}
	}
}

// TestExecutableHashesOnlyWhenAsked: executables are hashed for the file
// index only by a scanner that asks (the server); a layer cached by one
// that did not is scanned again for one that does, and hashes cached by
// one that did are kept.
func TestExecutableHashesOnlyWhenAsked(t *testing.T) {
	img := testenv.OneLayerImage(t, testenv.TarFile{Name: "usr/bin/tool", Mode: 0o755, Body: "hello"}, testenv.TarFile{Name: "etc/motd", Mode: 0o644, Body: "hello"})
	cache, err := inventory.OpenCache(t.TempDir(), catalog.All(), inventory.DefaultMaxFileSize)
	if err != nil {
		t.Fatal(err)
	}
	hello := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	for _, tc := range []struct {
		hash bool
		want map[string]string
	}{
		{false, nil},
		{true, map[string]string{"usr/bin/tool": hello}},  // the cached layer had none: scanned again
		{false, map[string]string{"usr/bin/tool": hello}}, // the cached layer has them
	} {
		res := scanImage(t, &inventory.Scanner{Extractors: catalog.All(), Cache: cache, HashExecutables: tc.hash}, img)
		if len(res.Hashes) == 0 {
			res.Hashes = nil
		}
		if diff := cmp.Diff(tc.want, res.Hashes); diff != "" {
			t.Errorf("HashExecutables=%v (-want +got):\n%s", tc.hash, diff)
		}
	}
}
