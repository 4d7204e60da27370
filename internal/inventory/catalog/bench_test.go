package catalog

import (
	"context"
	"path/filepath"
	"testing"

	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/testenv"
)

// BenchmarkScanDebianCold inventories the Debian image from its docker
// archive with no cache: the cost of one cold `bulwark sbom`.
func BenchmarkScanDebianCold(b *testing.B) {
	ref, err := image.ParseRef("docker-archive:" + filepath.Join(testenv.DebianImage(b), "image.docker.tar"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s := &inventory.Scanner{Extractors: All()}
	for b.Loop() {
		img, err := image.Open(ctx, ref, image.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := s.Scan(ctx, img)
		img.Close()
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Doc.Packages) < 80 {
			b.Fatalf("%d packages", len(res.Doc.Packages))
		}
	}
}
