// Package gobinary catalogs the modules compiled into Go executables from
// their embedded build information, and the Go toolchain as the stdlib
// package.
package gobinary

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"io/fs"
	"runtime/debug"
	"strings"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads Go build information from executables.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "go-binary" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// minSize is smaller than any Go executable.
const minSize = 64 << 10

// Required implements inventory.Extractor: executables only, as Go
// binaries are.
func (Extractor) Required(_ string, mode fs.FileMode, size int64) bool {
	return mode&0o111 != 0 && size >= minSize
}

var buildInfoMagic = []byte("\xff Go buildinf:")

// Extract implements inventory.Extractor. Files that are not Go
// executables yield nothing and no error.
func (Extractor) Extract(_ context.Context, in *inventory.Input) ([]sbom.Package, error) {
	if !isExecutable(in.Content) || !bytes.Contains(in.Content, buildInfoMagic) {
		return nil, nil
	}
	bi, err := buildinfo.Read(bytes.NewReader(in.Content))
	if err != nil {
		// buildinfo's sentinel is unexported; the magic can occur by chance.
		if strings.Contains(err.Error(), "not a Go executable") {
			return nil, nil
		}
		return nil, err
	}
	return FromBuildInfo(bi), nil
}

func isExecutable(b []byte) bool {
	return bytes.HasPrefix(b, []byte("\x7fELF")) || bytes.HasPrefix(b, []byte("MZ")) ||
		bytes.HasPrefix(b, []byte{0xfe, 0xed, 0xfa, 0xce}) || bytes.HasPrefix(b, []byte{0xfe, 0xed, 0xfa, 0xcf}) ||
		bytes.HasPrefix(b, []byte{0xce, 0xfa, 0xed, 0xfe}) || bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe})
}

// FromBuildInfo lists the main module, every dependency and the standard
// library. A replaced dependency is reported as what was compiled in (the
// replacement's path and version) with Replace naming the original.
func FromBuildInfo(bi *buildinfo.BuildInfo) []sbom.Package {
	var out []sbom.Package
	if bi.Main.Path != "" {
		out = append(out, module(&bi.Main, true))
	}
	for _, d := range bi.Deps {
		out = append(out, module(d, false))
	}
	if v := StdlibVersion(bi.GoVersion); v != "" {
		out = append(out, sbom.Package{Name: "stdlib", Version: v, Type: sbom.TypeGo, Licenses: []string{"BSD-3-Clause"}})
	}
	return out
}

func module(m *debug.Module, main bool) sbom.Package {
	p := sbom.Package{Name: m.Path, Version: m.Version, Type: sbom.TypeGo, Main: main}
	if r := m.Replace; r != nil {
		p.Replace = m.Path
		if m.Version != "" {
			p.Replace += "@" + m.Version
		}
		p.Name, p.Version = r.Path, r.Version
	}
	return p
}

// StdlibVersion turns a toolchain string ("go1.22.5", "go1.21.0
// X:boringcrypto", "go1.23rc1") into the version advisories use
// ("1.22.5", "1.23.0-rc.1"). Development toolchains yield "".
func StdlibVersion(goVersion string) string {
	v, _, _ := strings.Cut(strings.TrimSpace(goVersion), " ")
	if !strings.HasPrefix(v, "go1") {
		return ""
	}
	v = strings.TrimPrefix(v, "go")
	pre := ""
	for _, tag := range []string{"rc", "beta"} {
		if i := strings.Index(v, tag); i > 0 {
			pre = "-" + tag + "." + v[i+len(tag):]
			v = v[:i]
		}
	}
	if strings.Count(v, ".") == 1 {
		v += ".0"
	}
	return v + pre
}
