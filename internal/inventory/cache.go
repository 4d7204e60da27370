package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// cacheFormat changes whenever layerResult changes shape.
const cacheFormat = 3 // 3: executables' hashes

// Cache stores per-layer results on disk, keyed by the layer's diff ID and
// by the names and versions of the catalogers that produced them, so that
// a changed cataloger never serves stale results. A nil *Cache is a cache
// that never hits.
type Cache struct {
	dir string
}

// OpenCache returns a cache rooted at dir for the given extractors and
// file size limit.
func OpenCache(dir string, exts []Extractor, maxFileSize int64) (*Cache, error) {
	var parts []string
	for _, x := range exts {
		parts = append(parts, fmt.Sprintf("%s@%d", x.Name(), x.Version()))
	}
	sort.Strings(parts)
	parts = append(parts, fmt.Sprintf("format=%d", cacheFormat), fmt.Sprintf("maxfile=%d", maxFileSize))
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	d := filepath.Join(dir, "layers", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("layer cache %s: %w", dir, err)
	}
	return &Cache{dir: d}, nil
}

// DefaultCacheDir is bulwark's directory under the user cache directory.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "bulwark"), nil
}

func (c *Cache) file(diffID string) string {
	alg, hexd, ok := strings.Cut(diffID, ":")
	if !ok || alg != "sha256" || len(hexd) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(hexd); err != nil {
		return ""
	}
	return filepath.Join(c.dir, hexd+".json.zst")
}

// The codecs are made on first use: every command would otherwise pay
// for their tables at start-up.
var (
	zenc = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		return e
	})
	zdec = sync.OnceValue(func() *zstd.Decoder {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		return d
	})
)

func (c *Cache) get(diffID string) *layerResult {
	if c == nil {
		return nil
	}
	f := c.file(diffID)
	if f == "" {
		return nil
	}
	raw, err := os.ReadFile(f)
	if err != nil {
		return nil
	}
	plain, err := zdec().DecodeAll(raw, nil)
	if err != nil {
		return nil
	}
	var r layerResult
	if err := json.Unmarshal(plain, &r); err != nil || r.Format != cacheFormat || r.DiffID != diffID {
		return nil
	}
	return &r
}

func (c *Cache) put(r *layerResult) error {
	if c == nil {
		return nil
	}
	f := c.file(r.DiffID)
	if f == "" {
		return nil
	}
	plain, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, ".tmp-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(zenc().EncodeAll(plain, nil)); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), f)
}
