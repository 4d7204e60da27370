package image

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ErrHostile is returned, wrapped, for layer content that no runtime
// would apply either: entry names and hard links that climb out of the
// image root. Symlinks, whatever they point at, are resolved inside the
// image as the container sees them.
var ErrHostile = errors.New("hostile layer content refused")

// ErrLimit is returned, wrapped, when a layer exceeds a configured cap.
var ErrLimit = errors.New("limit exceeded")

// Limits cap what reading an image may cost.
type Limits struct {
	// MaxBytes caps the total decompressed size of all layers.
	MaxBytes int64
	// MaxFiles caps the total number of layer entries.
	MaxFiles int64
}

// DefaultLimits are generous for real images and stop decompression bombs.
var DefaultLimits = Limits{MaxBytes: 32 << 30, MaxFiles: 4 << 20}

// Budget tracks what reading one image has used against its limits; it is
// safe for concurrent use by the readers of several layers.
type Budget struct {
	lim   Limits
	bytes atomic.Int64
	files atomic.Int64
}

// NewBudget returns a budget for one image.
func NewBudget(l Limits) *Budget {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return &Budget{lim: l}
}

// EntryType is the kind of a layer entry after whiteouts are decoded.
type EntryType uint8

// Entry types.
const (
	TypeFile EntryType = iota
	TypeDir
	TypeSymlink
	TypeHardlink
	// TypeWhiteout deletes Path and everything below it in lower layers.
	TypeWhiteout
	// TypeOpaque hides everything lower layers put inside the directory Path.
	TypeOpaque
	// TypeOther is a FIFO or another entry without content.
	TypeOther
)

func (t EntryType) String() string {
	return [...]string{"file", "dir", "symlink", "hardlink", "whiteout", "opaque", "other"}[t]
}

// Entry is one decoded, validated layer entry.
type Entry struct {
	// Path is relative to the image root, slash-separated and clean.
	Path string    `json:"p"`
	Type EntryType `json:"t,omitempty"`
	// Mode holds permission, setuid, setgid and sticky bits.
	Mode fs.FileMode `json:"m,omitempty"`
	Size int64       `json:"s,omitempty"`
	// Link is a symlink's target as written, or a hard link's target
	// path relative to the root.
	Link string `json:"l,omitempty"`
	UID  int    `json:"u,omitempty"`
	GID  int    `json:"g,omitempty"`
}

// ReadOptions configure ReadLayer.
type ReadOptions struct {
	Budget *Budget
	// Progress, if set, is called with the number of stored (compressed)
	// bytes read since the last call.
	Progress func(n int64)
}

// ReadLayer streams one layer: it decompresses it (gzip, zstd or none,
// detected from the content), validates every entry, calls fn for each one
// with a reader of its content (regular files only; nil otherwise) and
// finally checks the layer's digests. An error from fn stops the read.
func ReadLayer(ctx context.Context, l *Layer, opts ReadOptions, fn func(e *Entry, r io.Reader) error) (err error) {
	wrap := func(err error) error {
		return fmt.Errorf("layer %d (%s): %w", l.Index, shortDigest(l.DiffID), err)
	}
	if opts.Budget == nil {
		opts.Budget = NewBudget(Limits{})
	}
	rc, err := l.open()
	if err != nil {
		return wrap(err)
	}
	defer rc.Close()
	stored := &hashingReader{r: rc, progress: opts.Progress}
	if strings.HasPrefix(l.Digest, "sha256:") {
		stored.h = sha256.New()
	}
	br := bufio.NewReaderSize(stored, 256<<10)
	magic, _ := br.Peek(4)
	var raw io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return wrap(fmt.Errorf("gzip: %w", err))
		}
		defer zr.Close()
		raw = zr
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return wrap(fmt.Errorf("zstd: %w", err))
		}
		defer zr.Close()
		raw = zr.IOReadCloser()
	}
	un := &budgetReader{r: raw, h: sha256.New(), b: opts.Budget}
	tr := tar.NewReader(un)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return wrap(truncated(err))
		}
		if n := opts.Budget.files.Add(1); n > opts.Budget.lim.MaxFiles {
			return wrap(fmt.Errorf("%w: more than %d entries in the image (raise --max-files if this image is genuine)", ErrLimit, opts.Budget.lim.MaxFiles))
		}
		e, err := decodeEntry(h)
		if err != nil {
			return wrap(err)
		}
		if e == nil {
			continue
		}
		var content io.Reader
		if e.Type == TypeFile {
			content = tr
		}
		if err := fn(e, content); err != nil {
			return wrap(truncated(err))
		}
	}
	// Read to the end so both digests cover the whole stream.
	if _, err := io.Copy(io.Discard, un); err != nil {
		return wrap(truncated(err))
	}
	if got := "sha256:" + hex.EncodeToString(un.h.Sum(nil)); l.DiffID != "" && got != l.DiffID {
		return wrap(fmt.Errorf("%w: uncompressed layer has digest %s, the image configuration says %s", ErrDigestMismatch, got, l.DiffID))
	}
	if stored.h != nil {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return wrap(truncated(err))
		}
		if got := "sha256:" + hex.EncodeToString(stored.h.Sum(nil)); got != l.Digest {
			return wrap(fmt.Errorf("%w: layer blob has digest %s, the manifest says %s", ErrDigestMismatch, got, l.Digest))
		}
	}
	return nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated or corrupt layer: %w", err)
	}
	return err
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	if d == "" {
		return "no diff ID"
	}
	return d
}

type hashingReader struct {
	r        io.Reader
	h        hash.Hash
	progress func(int64)
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		if h.h != nil {
			h.h.Write(p[:n])
		}
		if h.progress != nil {
			h.progress(int64(n))
		}
	}
	return n, err
}

type budgetReader struct {
	r io.Reader
	h hash.Hash
	b *Budget
}

func (b *budgetReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.h.Write(p[:n])
		if t := b.b.bytes.Add(int64(n)); t > b.b.lim.MaxBytes {
			return n, fmt.Errorf("%w: the image decompresses to more than %d bytes (a decompression bomb? raise --max-image-size if this image is genuine)", ErrLimit, b.b.lim.MaxBytes)
		}
	}
	return n, err
}

// cleanEntryName turns a tar name into a clean root-relative path, or
// fails when it escapes the root. The root itself is "".
func cleanEntryName(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	switch {
	case p == ".." || strings.HasPrefix(p, "../"):
		return "", fmt.Errorf("entry %q: %w: the name escapes the image root", name, ErrHostile)
	case p == ".":
		return "", nil
	}
	return p, nil
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// decodeEntry validates a tar header and decodes OCI whiteouts. It returns
// nil for entries that carry nothing (the root, AUFS bookkeeping).
func decodeEntry(h *tar.Header) (*Entry, error) {
	p, err := cleanEntryName(h.Name)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return nil, nil
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(dir, whiteoutPrefix+whiteoutPrefix) || strings.Contains(dir, "/"+whiteoutPrefix+whiteoutPrefix) {
		return nil, nil // inside AUFS metadata directories (.wh..wh.plnk/)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == opaqueMarker:
			return &Entry{Path: dir, Type: TypeOpaque}, nil
		case strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix):
			return nil, nil // AUFS metadata (.wh..wh.plnk and friends)
		default:
			return &Entry{Path: path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)), Type: TypeWhiteout}, nil
		}
	}
	e := &Entry{Path: p, Mode: fs.FileMode(h.Mode)&(fs.ModePerm) | specialBits(h.Mode), UID: h.Uid, GID: h.Gid}
	switch h.Typeflag {
	case tar.TypeReg, 0: // 0 is the pre-POSIX regular file flag
		e.Type, e.Size = TypeFile, h.Size
	case tar.TypeDir:
		e.Type = TypeDir
	case tar.TypeSymlink:
		// Any target is kept as written: links are only ever resolved
		// inside the image, chroot-style ("/" and ".." stop at its root),
		// as they resolve inside the container. A link climbing past the
		// root (etc/x -> ../../../etc/passwd) names /etc/passwd there.
		e.Type, e.Link = TypeSymlink, h.Linkname
		if h.Linkname == "" {
			return nil, fmt.Errorf("entry %q: empty symlink target", h.Name)
		}
	case tar.TypeLink:
		// A hard link names another entry of the archive; Docker reads a
		// leading "/" as the image root and refuses one that climbs out.
		t, err := cleanEntryName(h.Linkname)
		if err != nil || t == "" {
			return nil, fmt.Errorf("entry %q: %w: hard link to %q points outside the image root", h.Name, ErrHostile, h.Linkname)
		}
		e.Type, e.Link = TypeHardlink, t
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		// Device nodes and FIFOs carry no content, and nothing is ever
		// written to disk, so they are listed, never created.
		e.Type = TypeOther
	case tar.TypeXGlobalHeader:
		return nil, nil
	default:
		return nil, fmt.Errorf("entry %q: unsupported tar entry type %q", h.Name, h.Typeflag)
	}
	return e, nil
}

func specialBits(mode int64) fs.FileMode {
	var m fs.FileMode
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
