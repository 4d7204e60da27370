package vulndb

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maxRecordSize caps one JSON record; real OSV records are far smaller.
const maxRecordSize = 32 << 20

// Problem is a record that was skipped.
type Problem struct {
	File string `json:"file"`
	ID   string `json:"id,omitempty"`
	Err  string `json:"error"`
}

func (p Problem) String() string {
	if p.ID != "" {
		return fmt.Sprintf("%s: %s: %s", p.File, p.ID, p.Err)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Err)
}

// ImportResult counts what an import did.
type ImportResult struct {
	Imported int       `json:"imported"`
	Problems []Problem `json:"problems,omitempty"`
}

// Import reads OSV JSON files, directories of them (recursively), zip
// archives of them (osv.dev's all.zip) and Alpine secdb files, and stores
// every valid record in one transaction. A malformed record is reported
// and skipped; it never aborts the import. Unreadable paths do.
func (d *DB) Import(ctx context.Context, paths []string, now time.Time) (*ImportResult, error) {
	w, err := d.Begin(ctx)
	if err != nil {
		return nil, err
	}
	res := &ImportResult{}
	if err := w.importPaths(ctx, paths, "osv", res); err != nil {
		w.Rollback()
		return nil, err
	}
	if err := w.Commit(now); err != nil {
		return nil, err
	}
	return res, nil
}

// importPaths adds every record under paths to the transaction, OSV
// records under source.
func (w *Writer) importPaths(ctx context.Context, paths []string, source string, res *ImportResult) error {
	put := func(file string, b []byte) error {
		if IsSecdb(b) {
			vs, err := ParseSecdb(b, releaseFromPath(file))
			if err != nil {
				res.Problems = append(res.Problems, Problem{File: file, Err: err.Error()})
				return nil
			}
			for _, v := range vs {
				if err := w.Merge(ctx, v, "alpine-secdb"); err != nil {
					return err
				}
				res.Imported++
			}
			return nil
		}
		v, err := ParseVuln(b)
		if err != nil {
			id := ""
			if v != nil {
				id = v.ID
			}
			res.Problems = append(res.Problems, Problem{File: file, ID: id, Err: err.Error()})
			return nil
		}
		if err := w.Put(ctx, v, source); err != nil {
			return err
		}
		res.Imported++
		return nil
	}
	for _, p := range paths {
		before, problems := res.Imported, len(res.Problems)
		if err := importPath(ctx, p, put); err != nil {
			return err
		}
		if res.Imported == before {
			// An input that yields nothing is a mistake (a wrong file, an
			// empty download): importing it must not look like an update.
			why := ""
			if len(res.Problems) > problems {
				why = " (first problem: " + res.Problems[problems].String() + ")"
			}
			return fmt.Errorf("%w in %s%s: want OSV JSON records, a directory or zip of them (osv.dev all.zip), or Alpine secdb files; the database was not changed", ErrNoAdvisories, p, why)
		}
	}
	return nil
}

// ErrNoAdvisories means an input held no valid advisory record.
var ErrNoAdvisories = errors.New("no advisories")

func importPath(ctx context.Context, p string, put func(string, []byte) error) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("import %s: %w", p, err)
	}
	if !fi.IsDir() {
		return importFile(ctx, p, put)
	}
	return filepath.WalkDir(p, func(f string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if de.IsDir() || !(strings.HasSuffix(f, ".json") || strings.HasSuffix(f, ".zip")) {
			return nil
		}
		return importFile(ctx, f, put)
	})
}

func importFile(ctx context.Context, f string, put func(string, []byte) error) error {
	if strings.HasSuffix(f, ".zip") {
		zr, err := zip.OpenReader(f)
		if err != nil {
			return fmt.Errorf("import %s: %w", f, err)
		}
		defer zr.Close()
		for _, e := range zr.File {
			if err := ctx.Err(); err != nil {
				return err
			}
			if e.FileInfo().IsDir() || !strings.HasSuffix(e.Name, ".json") {
				continue
			}
			b, err := readLimited(e)
			name := f + "!" + e.Name
			if err != nil {
				if err := put(name, nil); err != nil {
					return err
				}
				continue
			}
			if err := put(name, b); err != nil {
				return err
			}
		}
		return nil
	}
	fi, err := os.Stat(f)
	if err != nil {
		return err
	}
	if fi.Size() > maxRecordSize {
		return put(f, []byte(`{"error": "file too large"}`))
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return fmt.Errorf("import %s: %w", f, err)
	}
	return put(f, b)
}

func readLimited(e *zip.File) ([]byte, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("record larger than %d bytes", maxRecordSize)
	}
	return b, nil
}
