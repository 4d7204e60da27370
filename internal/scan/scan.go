// Package scan is the one vulnerability scan pipeline: the CLI's scan
// commands and the registry's scan on push both call it, so an image
// gets the same findings, coverage and warnings wherever it is scanned.
package scan

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"

	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/vulndb"
)

// DefaultWarnAge is when a scan starts warning that advisories are old.
const DefaultWarnAge = 7 * 24 * time.Hour

// Warning kinds.
const (
	WarnDatabaseAge  = "database-age"
	WarnEndOfLife    = "end-of-life"
	WarnNoAdvisories = "no-advisories"
	WarnUnmatched    = "unmatched"
)

// Warning is something the reader of a result must know, because
// without it the result would say more than it does.
type Warning struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// DB is the database a scan used.
type DB struct {
	Records int
	Updated time.Time
}

// Result is one inventory's vulnerabilities.
type Result struct {
	Findings []match.Finding
	Coverage []match.Coverage
	Warnings []Warning
	DB       DB
}

// Options tune a scan.
type Options struct {
	// Now is the scan time (database age, end of life).
	Now time.Time
	// WarnAge is the database age past which a warning is added
	// (DefaultWarnAge when zero).
	WarnAge time.Duration
}

// Vulnerabilities matches doc against db and says what the result covers.
func Vulnerabilities(ctx context.Context, db *vulndb.DB, doc *sbom.Document, opts Options) (*Result, error) {
	if opts.WarnAge == 0 {
		opts.WarnAge = DefaultWarnAge
	}
	records, updated, err := db.Info(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{DB: DB{Records: records, Updated: updated}}
	if res.Findings, err = match.Match(ctx, db, doc); err != nil {
		return nil, err
	}
	if res.Findings == nil {
		res.Findings = []match.Finding{}
	}
	if res.Coverage, err = match.Cover(ctx, db, doc); err != nil {
		return nil, err
	}
	if age := opts.Now.Sub(updated); !updated.IsZero() && age > opts.WarnAge {
		res.Warnings = append(res.Warnings, Warning{WarnDatabaseAge, fmt.Sprintf("the vulnerability database was last updated %s ago; findings may be missing (update it, or set --db-max-age to refuse)", age.Round(time.Hour))})
	}
	if o := doc.OS; o != nil && o.EOLPassed && o.EOL != nil {
		res.Warnings = append(res.Warnings, Warning{WarnEndOfLife, fmt.Sprintf("%s %s reached its end of life on %s: it gets no more security fixes", o.ID, o.VersionID, o.EOL.Format(time.DateOnly))})
	}
	for _, c := range res.Coverage {
		switch c.Status {
		case match.NoAdvisories:
			res.Warnings = append(res.Warnings, Warning{WarnNoAdvisories, c.Message})
		case match.Unmatched:
			res.Warnings = append(res.Warnings, Warning{WarnUnmatched, c.Message})
		}
	}
	return res, nil
}

// Messages lists the warnings' texts.
func Messages(ws []Warning) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.Message)
	}
	return out
}

// Uncovered says whether the image's OS packages could not be judged:
// the database holds no advisories for its OS, or bulwark does not match
// that OS's packages. The pull policy's "unmatched" rule acts on it.
func Uncovered(cov []match.Coverage) (bool, string) {
	for _, c := range cov {
		if c.OS && c.Status != match.Covered {
			return true, c.Message
		}
	}
	return false, ""
}

// ImageState is what the image hygiene checks read, taken from the
// inventory's pass over the layers (no second read).
func ImageState(res *inventory.Result, ref string) *checks.ImageState {
	st := &checks.ImageState{Ref: ref, Config: res.Doc.Source.Config, OS: res.Doc.OS, Packages: len(res.Doc.Packages)}
	for _, l := range res.Doc.Source.Layers {
		st.History = append(st.History, l.CreatedBy)
	}
	res.Tree.Walk(func(p string, n *image.Node) error {
		if n.Type == image.TypeFile && checks.NotableFile(p, n.Mode) {
			st.Files = append(st.Files, checks.ImageFile{Path: p, Mode: n.Mode, Size: n.Size})
		}
		return nil
	})
	return st
}

// ImageChecks are the built-in image hygiene checks.
func ImageChecks() ([]*checks.Check, error) { return checks.ForTarget(checks.TargetImage) }

// Hygiene runs the image hygiene checks on an inventory result.
func Hygiene(ctx context.Context, res *inventory.Result, ref string) ([]checks.Result, error) {
	cs, err := ImageChecks()
	if err != nil {
		return nil, err
	}
	return checks.Run(ctx, cs, []*checks.Object{checks.ImageObject(ImageState(res, ref))}, nil, nil)
}

// FileEntry is one file of an image's final filesystem: where it came
// from and, for executables, what it is (drift detection compares a
// running binary's hash with it).
type FileEntry struct {
	Path   string      `json:"path"`
	Layer  int         `json:"layer"`
	Mode   fs.FileMode `json:"mode"`
	Size   int64       `json:"size"`
	SHA256 string      `json:"sha256,omitempty"`
}

// FileIndex lists the regular files of the final filesystem, by path.
func FileIndex(res *inventory.Result) []FileEntry {
	var out []FileEntry
	res.Tree.Walk(func(p string, n *image.Node) error {
		if n.Type == image.TypeFile || n.Type == image.TypeHardlink {
			out = append(out, FileEntry{Path: p, Layer: n.Layer, Mode: n.Mode, Size: n.Size, SHA256: res.Hashes[p]})
		}
		return nil
	})
	return out
}

// ImageResult is the one pipeline's whole answer for an image.
type ImageResult struct {
	Inventory *inventory.Result
	// Vulns is nil when no database was given.
	Vulns  *Result
	Checks []checks.Result
	Files  []FileEntry
}

// Image runs the one pipeline: inventory, vulnerabilities (when db is
// set), image hygiene checks and the file index, from one pass over the
// layers. bulwark scan, check image and scan on push all call it.
func Image(ctx context.Context, inv *inventory.Scanner, img *image.Image, db *vulndb.DB, opts Options) (*ImageResult, error) {
	res, err := inv.Scan(ctx, img)
	if err != nil {
		return nil, err
	}
	out := &ImageResult{Inventory: res, Files: FileIndex(res)}
	ref := img.Ref.Raw
	if ref == "" {
		ref = img.Name
	}
	if out.Checks, err = Hygiene(ctx, res, ref); err != nil {
		return nil, err
	}
	if db != nil {
		if out.Vulns, err = Vulnerabilities(ctx, db, res.Doc, opts); err != nil {
			return nil, err
		}
	}
	return out, nil
}
