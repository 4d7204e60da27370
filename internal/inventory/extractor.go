// Package inventory turns an image or a root filesystem into a software
// inventory. The runner reads each layer once, hands the files that
// catalogers ask for to them, and merges the per-layer results into what
// the final filesystem holds, remembering which layer introduced each
// package. Per-layer results are cached by diff ID.
package inventory

import (
	"context"
	"io/fs"

	"bulwark.dev/bulwark/internal/sbom"
)

// Extractor is a cataloger for one package format. The runner owns the
// file walk: Required is asked about every file, and Extract is called
// with the content of those it wants.
type Extractor interface {
	// Name is the stable name shown in status entries and in the docs.
	Name() string
	// Version changes whenever the extractor's output for the same input
	// may change; it is part of the layer cache key.
	Version() int
	// Required reports whether the file is one this extractor parses. It
	// is called for every file and must not do I/O.
	Required(path string, mode fs.FileMode, size int64) bool
	// Extract parses one file. A returned error becomes a status entry;
	// the scan goes on.
	Extract(ctx context.Context, in *Input) ([]sbom.Package, error)
}

// Input is one file handed to an extractor.
type Input struct {
	// Path is relative to the root, slash-separated.
	Path string
	Mode fs.FileMode
	// Content is the whole file.
	Content []byte

	tempDir func() (string, error)
}

// Excerpt shortens a line of input for an error message.
func Excerpt(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
