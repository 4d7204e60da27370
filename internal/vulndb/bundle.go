package vulndb

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// BundleFormat identifies an offline bundle's manifest.
const BundleFormat = "bulwark-vulndb-bundle/1"

// bundleManifest lists the bundle's files with their SHA-256 sums.
type bundleManifest struct {
	Format  string            `json:"format"`
	Created string            `json:"created"`
	Records int               `json:"records"`
	Updated string            `json:"updated,omitempty"`
	Files   map[string]string `json:"files"`
}

// Export writes a one-file offline bundle (a tar holding a consistent
// snapshot of the database and a manifest of SHA-256 sums) for moving
// advisories into an air-gapped site.
func (d *DB) Export(ctx context.Context, file string, now time.Time) error {
	dir, err := os.MkdirTemp(filepath.Dir(file), ".bundle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, "vuln.db")
	if _, err := d.db.ExecContext(ctx, `VACUUM INTO ?`, snap); err != nil {
		return fmt.Errorf("snapshot the database: %w", err)
	}
	sum, size, err := fileSHA256(snap)
	if err != nil {
		return err
	}
	st, err := d.Status(ctx)
	if err != nil {
		return err
	}
	m := bundleManifest{Format: BundleFormat, Created: now.UTC().Format(time.RFC3339), Records: st.Records,
		Files: map[string]string{"vuln.db": sum}}
	if !st.Updated.IsZero() {
		m.Updated = st.Updated.UTC().Format(time.RFC3339)
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(file), ".bundle-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tw := tar.NewWriter(tmp)
	err = tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(mb)), ModTime: now})
	if err == nil {
		_, err = tw.Write(mb)
	}
	if err == nil {
		err = tw.WriteHeader(&tar.Header{Name: "vuln.db", Mode: 0o644, Size: size, ModTime: now})
	}
	if err == nil {
		var f *os.File
		if f, err = os.Open(snap); err == nil {
			_, err = io.Copy(tw, f)
			f.Close()
		}
	}
	if err == nil {
		err = tw.Close()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write bundle %s: %w", file, err)
	}
	return os.Rename(tmp.Name(), file)
}

// IsBundle reports whether file is an offline bundle (a tar whose first
// entry is the manifest).
func IsBundle(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	h, err := tar.NewReader(f).Next()
	return err == nil && h.Name == "manifest.json"
}

// ImportBundle checks a bundle against its manifest and replaces the
// database at dbPath with it atomically: on any error the old database
// is untouched. The database must not be open.
func ImportBundle(bundle, dbPath string) (records int, err error) {
	f, err := os.Open(bundle)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dbPath), ".import-*.db")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var m *bundleManifest
	var dbSum string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("bundle %s: %w", bundle, err)
		}
		switch h.Name {
		case "manifest.json":
			b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
			if err != nil {
				return 0, err
			}
			m = &bundleManifest{}
			if err := json.Unmarshal(b, m); err != nil || m.Format != BundleFormat {
				return 0, fmt.Errorf("bundle %s: manifest is not a %s manifest", bundle, BundleFormat)
			}
		case "vuln.db":
			hs := sha256.New()
			if _, err := io.Copy(io.MultiWriter(tmp, hs), io.LimitReader(tr, DefaultMaxArchive)); err != nil {
				return 0, fmt.Errorf("bundle %s: %w", bundle, err)
			}
			dbSum = hex.EncodeToString(hs.Sum(nil))
		default:
			return 0, fmt.Errorf("bundle %s: unexpected entry %q", bundle, h.Name)
		}
	}
	switch {
	case m == nil:
		return 0, fmt.Errorf("bundle %s: no manifest.json", bundle)
	case dbSum == "":
		return 0, fmt.Errorf("bundle %s: no vuln.db", bundle)
	case m.Files["vuln.db"] != dbSum:
		return 0, fmt.Errorf("bundle %s: vuln.db has SHA-256 %s, the manifest says %s: the bundle is corrupt or was altered", bundle, dbSum, m.Files["vuln.db"])
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	// The snapshot must open and hold what the manifest says.
	check, err := Open(tmp.Name())
	if err != nil {
		return 0, err
	}
	st, err := check.Status(context.Background())
	check.Close()
	if err != nil {
		return 0, err
	}
	if st.Records == 0 {
		return 0, fmt.Errorf("bundle %s: %w in its database; the database was not changed", bundle, ErrNoAdvisories)
	}
	if st.Records != m.Records {
		return 0, fmt.Errorf("bundle %s: %d records, the manifest says %d", bundle, st.Records, m.Records)
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + ext); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	os.Remove(tmp.Name() + "-wal")
	os.Remove(tmp.Name() + "-shm")
	if err := os.Rename(tmp.Name(), dbPath); err != nil {
		return 0, err
	}
	return st.Records, nil
}

func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
