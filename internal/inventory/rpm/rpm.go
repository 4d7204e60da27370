// Package rpm catalogs packages from RPM databases in all three formats:
// SQLite (rpmdb.sqlite, RHEL 9, Fedora, Amazon Linux 2023), BerkeleyDB
// (Packages, RHEL 7 and 8) and ndb (Packages.db, SUSE).
package rpm

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	rpmdb "github.com/erikvarga/go-rpmdb/pkg"
	// The SQLite driver rpmdb.sqlite databases are read with (pure Go).
	_ "modernc.org/sqlite"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor reads RPM databases.
type Extractor struct{}

// Name implements inventory.Extractor.
func (Extractor) Name() string { return "rpm" }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 1 }

var dbDirs = map[string]bool{"var/lib/rpm": true, "usr/lib/sysimage/rpm": true, "usr/share/rpm": true}

// Required implements inventory.Extractor.
func (Extractor) Required(p string, _ fs.FileMode, _ int64) bool {
	dir, base := path.Split(p)
	if !dbDirs[strings.TrimSuffix(dir, "/")] {
		return false
	}
	return base == "Packages" || base == "Packages.db" || base == "rpmdb.sqlite"
}

// Extract implements inventory.Extractor. The database engines need a real
// file, so the content is written into the input's private directory.
func (Extractor) Extract(ctx context.Context, in *inventory.Input) ([]sbom.Package, error) {
	dir, err := in.Dir()
	if err != nil {
		return nil, err
	}
	f := filepath.Join(dir, path.Base(in.Path))
	if err := os.WriteFile(f, in.Content, 0o600); err != nil {
		return nil, err
	}
	return ParseFile(ctx, f)
}

// ParseFile reads the RPM database at f. gpg-pubkey entries, which are
// imported signing keys rather than software, are left out.
func ParseFile(ctx context.Context, f string) ([]sbom.Package, error) {
	db, err := rpmdb.Open(f)
	if err != nil {
		return nil, fmt.Errorf("open rpm database: %w", err)
	}
	defer db.Close()
	list, err := db.ListPackagesWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read rpm database: %w", err)
	}
	var out []sbom.Package
	for _, p := range list {
		if p.Name == "gpg-pubkey" {
			continue
		}
		pkg := sbom.Package{
			Name:    p.Name,
			Version: p.Version + "-" + p.Release,
			Type:    sbom.TypeRPM,
			Arch:    p.Arch,
		}
		if p.Epoch != nil {
			e := *p.Epoch
			pkg.Epoch = &e
		}
		if p.License != "" {
			pkg.Licenses = []string{p.License}
		}
		pkg.SourceName, pkg.SourceVersion = sbom.SplitSourceRPM(p.SourceRpm)
		out = append(out, pkg)
	}
	return out, nil
}
