// Package python catalogs installed Python distributions from
// *.dist-info/METADATA (wheels, pip) and *.egg-info/PKG-INFO (setuptools).
package python

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads core metadata files of installed distributions.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "python" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements inventory.Extractor.
func (Extractor) Required(p string, _ fs.FileMode, _ int64) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch base {
	case "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info")
	}
	// A single-file egg-info (distutils) is the PKG-INFO itself.
	return strings.HasSuffix(base, ".egg-info")
}

// Extract implements inventory.Extractor.
func (Extractor) Extract(_ context.Context, in *inventory.Input) ([]sbom.Package, error) {
	p, err := ParseMetadata(in.Content)
	if err != nil {
		return nil, err
	}
	return []sbom.Package{*p}, nil
}

// ParseMetadata reads the RFC 822 header block of a core metadata file.
func ParseMetadata(b []byte) (*sbom.Package, error) {
	p := &sbom.Package{Type: sbom.TypePyPI}
	var license, expr string
	var classifiers []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			break // the description body follows
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "name":
			p.Name = v
		case "version":
			p.Version = v
		case "license":
			license = v
		case "license-expression":
			expr = v
		case "classifier":
			if rest, ok := strings.CutPrefix(v, "License :: "); ok {
				parts := strings.Split(rest, " :: ")
				classifiers = append(classifiers, parts[len(parts)-1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if p.Name == "" || p.Version == "" {
		return nil, fmt.Errorf("metadata has no Name or Version header")
	}
	switch {
	case expr != "":
		p.Licenses = []string{expr}
	case license != "" && license != "UNKNOWN" && !strings.Contains(license, "\n") && len(license) < 100:
		p.Licenses = []string{license}
	default:
		p.Licenses = classifiers
	}
	return p, nil
}
