// Package apk catalogs Alpine (and Wolfi) packages from the apk
// database, lib/apk/db/installed.
package apk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads lib/apk/db/installed.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "apk" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements inventory.Extractor.
func (Extractor) Required(path string, _ fs.FileMode, _ int64) bool {
	return path == "lib/apk/db/installed"
}

// Extract implements inventory.Extractor.
func (Extractor) Extract(_ context.Context, in *inventory.Input) ([]sbom.Package, error) {
	return Parse(in.Content)
}

// Parse reads an apk installed database: stanzas of "X:value" lines
// separated by blank lines.
func Parse(b []byte) ([]sbom.Package, error) {
	var out []sbom.Package
	var cur sbom.Package
	line := 0
	flush := func() error {
		if cur.Name == "" && cur.Version == "" {
			cur = sbom.Package{}
			return nil
		}
		if cur.Name == "" || cur.Version == "" {
			return fmt.Errorf("line %d: package stanza without P: (name) or V: (version)", line)
		}
		cur.Type = sbom.TypeAPK
		if cur.SourceName == "" {
			cur.SourceName = cur.Name
		}
		cur.SourceVersion = cur.Version
		out = append(out, cur)
		cur = sbom.Package{}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line++
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			if err := flush(); err != nil {
				return out, err
			}
			continue
		}
		if len(l) < 2 || l[1] != ':' {
			return out, fmt.Errorf("line %d: expected a \"X:value\" field, got %q", line, inventory.Excerpt(l))
		}
		v := l[2:]
		switch l[0] {
		case 'P':
			cur.Name = v
		case 'V':
			cur.Version = v
		case 'A':
			cur.Arch = v
		case 'o':
			cur.SourceName = v
		case 'L':
			// apk writes an SPDX-style expression ("MIT AND BSD-2-Clause"):
			// kept whole.
			if v = strings.TrimSpace(v); v != "" {
				cur.Licenses = []string{v}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("line %d: %w", line+1, err)
	}
	return out, flush()
}
