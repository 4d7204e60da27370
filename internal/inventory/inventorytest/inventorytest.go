// Package inventorytest helps tests of catalogers run them the way the
// inventory runner does. It is imported only by tests.
package inventorytest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/sbom"
)

// ExtractDir runs one cataloger over the real files under root, as the
// runner would, with paths relative to base; a file the cataloger fails
// on fails the test.
func ExtractDir(t testing.TB, x inventory.Extractor, root, base string) []sbom.Package {
	t.Helper()
	var out []sbom.Package
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !x.Required(rel, info.Mode(), info.Size()) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		pkgs, err := x.Extract(context.Background(), &inventory.Input{Path: rel, Content: b})
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		out = append(out, pkgs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
