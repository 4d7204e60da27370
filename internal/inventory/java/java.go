// Package java catalogs Java archives (jar, war, ear and Jenkins plugins):
// Maven coordinates from META-INF/maven/**/pom.properties, the manifest
// when there are none, and archives nested inside archives.
package java

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads Java archives.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "java" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements inventory.Extractor.
func (Extractor) Required(p string, _ fs.FileMode, _ int64) bool {
	return isArchive(p)
}

func isArchive(p string) bool {
	switch strings.ToLower(path.Ext(p)) {
	case ".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar":
		return true
	}
	return false
}

// Limits on nested archives: depth and the bytes decompressed for them.
const (
	maxDepth        = 4
	maxNestedBytes  = 256 << 20
	maxManifestSize = 1 << 20
)

// Extract implements inventory.Extractor.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) ([]sbom.Package, error) {
	budget := int64(maxNestedBytes)
	return parse(ctx, in.Content, in.Path, "", 0, &budget)
}

// Parse lists the packages of one archive given as bytes; name is its
// file name, used when the archive carries no coordinates.
func Parse(ctx context.Context, b []byte, name string) ([]sbom.Package, error) {
	budget := int64(maxNestedBytes)
	return parse(ctx, b, name, "", 0, &budget)
}

func parse(ctx context.Context, b []byte, file, nested string, depth int, budget *int64) ([]sbom.Package, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable archive: %w", displayName(file, nested), err)
	}
	var out []sbom.Package
	var manifest map[string]string
	loc := file
	if nested != "" {
		loc = file + "!/" + nested
	}
	var inner []*zip.File
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(f.Name, "META-INF/maven/") && strings.HasSuffix(f.Name, "/pom.properties"):
			raw, err := readEntry(f, maxManifestSize)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", displayName(file, nested), f.Name, err)
			}
			if p := fromPomProperties(raw); p != nil {
				out = append(out, *p)
			}
		case strings.EqualFold(f.Name, "META-INF/MANIFEST.MF"):
			raw, err := readEntry(f, maxManifestSize)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", displayName(file, nested), f.Name, err)
			}
			manifest = ParseManifest(raw)
		case isArchive(f.Name) && !f.FileInfo().IsDir():
			inner = append(inner, f)
		}
	}
	if len(out) == 0 {
		if p := fromManifest(manifest, path.Base(displayName(file, nested))); p != nil {
			out = append(out, *p)
		}
	}
	for i := range out {
		out[i].Locations = []sbom.Location{{Path: loc}}
	}
	if depth >= maxDepth {
		return out, nil
	}
	for _, f := range inner {
		if int64(f.UncompressedSize64) > *budget {
			return out, fmt.Errorf("%s: nested archive %s exceeds the %d byte budget for nested archives", displayName(file, nested), f.Name, maxNestedBytes)
		}
		raw, err := readEntry(f, *budget)
		if err != nil {
			return out, fmt.Errorf("%s: %s: %w", displayName(file, nested), f.Name, err)
		}
		*budget -= int64(len(raw))
		n := f.Name
		if nested != "" {
			n = nested + "!/" + f.Name
		}
		sub, err := parse(ctx, raw, file, n, depth+1, budget)
		if err != nil {
			return out, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

func displayName(file, nested string) string {
	if nested == "" {
		return file
	}
	return file + "!/" + nested
}

// readEntry reads a zip member, refusing to decompress more than limit
// bytes whatever its header claims.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("decompresses to more than %d bytes", limit)
	}
	return b, nil
}

func fromPomProperties(b []byte) *sbom.Package {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' || l[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if kv["artifactId"] == "" || kv["version"] == "" {
		return nil
	}
	return &sbom.Package{Type: sbom.TypeMaven, Namespace: kv["groupId"], Name: kv["artifactId"], Version: kv["version"]}
}

// ParseManifest reads the main section of a MANIFEST.MF, joining
// continuation lines (72-byte wrapping).
func ParseManifest(b []byte) map[string]string {
	out := map[string]string{}
	var last string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if l == "" {
			if len(out) > 0 {
				break // per-entry sections follow
			}
			continue
		}
		if l[0] == ' ' && last != "" {
			out[last] += l[1:]
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		last = strings.TrimSpace(k)
		out[last] = strings.TrimSpace(v)
	}
	return out
}

var fileVersion = regexp.MustCompile(`^(.+?)-(\d[\w.\-+]*)\.[a-zA-Z]+$`)

// fromManifest names an archive without Maven metadata from its manifest,
// falling back to the name-version pattern of its file name.
func fromManifest(m map[string]string, base string) *sbom.Package {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := m[k]; v != "" {
				return v
			}
		}
		return ""
	}
	name := first("Implementation-Title", "Bundle-Name", "Specification-Title")
	if sym := m["Bundle-SymbolicName"]; name == "" && sym != "" {
		name, _, _ = strings.Cut(sym, ";")
	}
	version := first("Implementation-Version", "Bundle-Version", "Specification-Version")
	group := first("Implementation-Vendor-Id", "Automatic-Module-Name")
	if mt := fileVersion.FindStringSubmatch(base); mt != nil {
		if version == "" {
			version = mt[2]
		}
		name = mt[1] // the file name is the artifact id far more often than the title
	}
	if name == "" || version == "" {
		return nil
	}
	p := &sbom.Package{Type: sbom.TypeMaven, Name: name, Version: version}
	if group != "" && !strings.Contains(group, " ") {
		p.Namespace = group
	}
	if l := m["Bundle-License"]; l != "" && !strings.HasPrefix(l, "http") {
		p.Licenses = []string{l}
	}
	return p
}
