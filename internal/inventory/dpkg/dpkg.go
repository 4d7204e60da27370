// Package dpkg catalogs Debian and Ubuntu packages from the dpkg status
// database, from distroless images' var/lib/dpkg/status.d/ and from
// opkg's status file, which shares the format.
package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads var/lib/dpkg/status and var/lib/dpkg/status.d/*.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "dpkg" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

// Required implements inventory.Extractor.
func (Extractor) Required(p string, _ fs.FileMode, _ int64) bool {
	if p == "var/lib/dpkg/status" {
		return true
	}
	dir, base := path.Split(p)
	return dir == "var/lib/dpkg/status.d/" && !strings.HasSuffix(base, ".md5sums") && !strings.HasSuffix(base, ".list")
}

// Extract implements inventory.Extractor.
func (Extractor) Extract(_ context.Context, in *inventory.Input) ([]sbom.Package, error) {
	return Parse(in.Content, sbom.TypeDeb)
}

// OpkgExtractor reads opkg's status file (OpenWrt and embedded images).
type OpkgExtractor struct{}

// Name implements inventory.Extractor.
func (OpkgExtractor) Name() string { return "opkg" }

// Version implements inventory.Extractor.
func (OpkgExtractor) Version() int { return 1 }

// Required implements inventory.Extractor.
func (OpkgExtractor) Required(p string, _ fs.FileMode, _ int64) bool {
	return p == "usr/lib/opkg/status" || p == "var/lib/opkg/status"
}

// Extract implements inventory.Extractor.
func (OpkgExtractor) Extract(_ context.Context, in *inventory.Input) ([]sbom.Package, error) {
	return Parse(in.Content, "opkg")
}

// Parse reads RFC 822 style stanzas and returns the installed packages.
// Stanzas without a Status field (distroless status.d files) count as
// installed.
func Parse(b []byte, typ string) ([]sbom.Package, error) {
	var out []sbom.Package
	var problems []error
	fields := map[string]string{}
	var last string
	line, start := 0, 1
	flush := func() {
		defer func() { fields = map[string]string{}; last = "" }()
		if len(fields) == 0 {
			return
		}
		name, version := fields["Package"], fields["Version"]
		if name == "" {
			problems = append(problems, fmt.Errorf("stanza at line %d has no package name; skipped", start))
			return
		}
		if st, ok := fields["Status"]; ok {
			words := strings.Fields(st)
			if len(words) != 3 || !present[words[2]] {
				return
			}
		}
		if version == "" {
			problems = append(problems, fmt.Errorf("package %q (line %d) has no Version field; skipped", name, start))
			return
		}
		p := sbom.Package{Name: name, Version: version, Type: typ, Arch: fields["Architecture"],
			SourceName: name, SourceVersion: version}
		if src := fields["Source"]; src != "" {
			n, v, ok := strings.Cut(src, " ")
			p.SourceName = n
			if ok {
				v = strings.TrimSpace(v)
				if strings.HasPrefix(v, "(") && strings.HasSuffix(v, ")") {
					p.SourceVersion = v[1 : len(v)-1]
				}
			}
		}
		if l := fields["License"]; l != "" {
			p.Licenses = []string{l}
		}
		out = append(out, p)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line++
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			flush()
			start = line + 1
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if last == "" {
				return out, fmt.Errorf("line %d: continuation line outside a field", line)
			}
			// Only the fields read above matter; continuations of
			// Description and Conffiles are skipped.
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return out, fmt.Errorf("line %d: expected \"Field: value\", got %q", line, inventory.Excerpt(l))
		}
		last = k
		fields[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("line %d: %w", line+1, err)
	}
	flush()
	return out, errors.Join(problems...)
}

// present lists the dpkg states in which a package's files are on disk.
var present = map[string]bool{"installed": true, "half-configured": true, "triggers-awaited": true, "triggers-pending": true, "unpacked": true, "half-installed": true}
