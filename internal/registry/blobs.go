// Package registry serves the OCI Distribution API (v1.1: referrers,
// subjects, sha512) over bulwark's store: blobs in a content-addressed
// blob store, manifests, tags and which repository holds what in the
// database. It exposes hooks for the policy gate, the audit trail and
// scan on push, so the registry itself holds no policy.
package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Digest is a validated content digest: sha256 or sha512, lower-case hex.
type Digest struct{ Algorithm, Hex string }

func (d Digest) String() string { return d.Algorithm + ":" + d.Hex }

// lowerHex reports whether s is n lower-case hex digits. Hand-written:
// a regexp with {64} and {128} repetitions costs every command a
// millisecond of start-up to compile.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func validDigest(s string) bool {
	alg, hex, _ := strings.Cut(s, ":")
	return alg == "sha256" && lowerHex(hex, 64) || alg == "sha512" && lowerHex(hex, 128)
}

// ParseDigest validates a digest string; other algorithms are refused.
func ParseDigest(s string) (Digest, error) {
	if !validDigest(s) {
		return Digest{}, fmt.Errorf("digest %q: want sha256:<64 hex> or sha512:<128 hex>", s)
	}
	alg, hx, _ := strings.Cut(s, ":")
	return Digest{alg, hx}, nil
}

func (d Digest) hasher() hash.Hash {
	if d.Algorithm == "sha512" {
		return sha512.New()
	}
	return sha256.New()
}

// Sum digests b with d's algorithm.
func (d Digest) Sum(b []byte) Digest {
	h := d.hasher()
	h.Write(b)
	return Digest{d.Algorithm, hex.EncodeToString(h.Sum(nil))}
}

// SHA256 is the digest of b the registry uses when the client names none.
func SHA256(b []byte) Digest { return Digest{Algorithm: "sha256"}.Sum(b) }

// BlobStore keeps blobs by digest and the uploads that become them. The
// filesystem store (FSBlobs), the S3 store (S3Blobs) and the in-memory
// store (MemBlobs) implement it, and one conformance suite
// (blobstore_test.go) holds all three to the same contract. The
// context bounds remote calls: a client that goes away stops them.
type BlobStore interface {
	// Open reads a blob; ErrBlobUnknown when it is missing.
	Open(ctx context.Context, d Digest) (io.ReadSeekCloser, error)
	NewUpload(ctx context.Context) (string, error)
	// UploadSize is how many bytes an upload holds; ErrBlobUnknown for
	// an unknown or malformed ID.
	UploadSize(ctx context.Context, id string) (int64, error)
	// Append adds r to an upload, at most max bytes in all, and returns
	// the new size; past max it fails (the upload is then useless).
	Append(ctx context.Context, id string, r io.Reader, max int64) (int64, error)
	// Commit verifies that an upload has digest d and makes it the blob
	// (atomically: a crash leaves the whole blob or none); on a mismatch
	// the upload is discarded and ErrDigestMismatch returned.
	Commit(ctx context.Context, id string, d Digest) (int64, error)
	// Cancel discards an upload; ErrBlobUnknown when there is none.
	Cancel(ctx context.Context, id string) error
	// Walk lists every blob with its size and last modification.
	Walk(ctx context.Context, fn func(d Digest, size int64, modified time.Time) error) error
	// Quarantine moves a blob aside for garbage collection: restore puts
	// it back, purge deletes it for good. Until restored, Open and Walk
	// do not see it.
	Quarantine(ctx context.Context, d Digest) (restore, purge func() error, err error)
}

// ErrBlobUnknown is a missing blob or upload.
var ErrBlobUnknown = errors.New("blob unknown")

// ErrDigestMismatch is an upload whose content has another digest.
var ErrDigestMismatch = errors.New("the uploaded content does not match the digest")

// FSBlobs is a content-addressed blob store in a directory:
// blobs/<alg>/<2 hex>/<hex> and uploads/<id>. A blob appears only by an
// atomic rename of a verified upload, so a crash leaves either nothing or
// the whole blob.
type FSBlobs struct{ root string }

// NewFSBlobs opens (creating) a blob store under dir.
func NewFSBlobs(dir string) (*FSBlobs, error) {
	for _, d := range []string{"blobs", "uploads"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", dir, err)
		}
	}
	return &FSBlobs{root: dir}, nil
}

func (b *FSBlobs) path(d Digest) string {
	return filepath.Join(b.root, "blobs", d.Algorithm, d.Hex[:2], d.Hex)
}

func (b *FSBlobs) uploadPath(id string) (string, error) {
	if !lowerHex(id, 32) {
		return "", ErrBlobUnknown
	}
	return filepath.Join(b.root, "uploads", id), nil
}

// Stat returns a blob's size, or ErrBlobUnknown.
func (b *FSBlobs) Stat(_ context.Context, d Digest) (int64, error) {
	fi, err := os.Stat(b.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrBlobUnknown
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Open opens a blob for reading.
func (b *FSBlobs) Open(_ context.Context, d Digest) (io.ReadSeekCloser, error) {
	f, err := os.Open(b.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrBlobUnknown
	}
	return f, err
}

// NewUpload starts an empty upload and returns its ID.
func (b *FSBlobs) NewUpload(context.Context) (string, error) {
	r := make([]byte, 16)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r)
	p, _ := b.uploadPath(id)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	return id, f.Close()
}

// UploadSize returns how many bytes an upload holds.
func (b *FSBlobs) UploadSize(_ context.Context, id string) (int64, error) {
	p, err := b.uploadPath(id)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrBlobUnknown
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Append adds r to an upload, at most max bytes in all, and returns the
// new size.
func (b *FSBlobs) Append(_ context.Context, id string, r io.Reader, max int64) (int64, error) {
	p, err := b.uploadPath(id)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrBlobUnknown
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(r, max-fi.Size()+1))
	size := fi.Size() + n
	if err != nil {
		return size, err
	}
	if size > max {
		return size, fmt.Errorf("blob exceeds the %d-byte limit", max)
	}
	return size, f.Sync()
}

// verify checks that an upload has digest d and returns its file and
// size; on a mismatch the upload is discarded.
func (b *FSBlobs) verify(id string, d Digest) (string, int64, error) {
	p, err := b.uploadPath(id)
	if err != nil {
		return "", 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, ErrBlobUnknown
	}
	if err != nil {
		return "", 0, err
	}
	h := d.hasher()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", 0, err
	}
	if hex.EncodeToString(h.Sum(nil)) != d.Hex {
		os.Remove(p)
		return "", 0, ErrDigestMismatch
	}
	return p, n, nil
}

// Commit verifies that an upload has digest d and moves it into place.
// On a mismatch the upload is discarded.
func (b *FSBlobs) Commit(_ context.Context, id string, d Digest) (int64, error) {
	p, n, err := b.verify(id, d)
	if err != nil {
		return 0, err
	}
	dst := b.path(d)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, err
	}
	if err := os.Rename(p, dst); err != nil {
		return 0, err
	}
	// A fresh time tells garbage collection this blob is in use even if
	// its upload's last bytes came long ago.
	now := time.Now()
	os.Chtimes(dst, now, now)
	return n, nil
}

// Cancel discards an upload.
func (b *FSBlobs) Cancel(_ context.Context, id string) error {
	p, err := b.uploadPath(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); errors.Is(err, fs.ErrNotExist) {
		return ErrBlobUnknown
	} else {
		return err
	}
}

// Walk lists the stored blobs.
func (b *FSBlobs) Walk(ctx context.Context, fn func(d Digest, size int64, modified time.Time) error) error {
	root := filepath.Join(b.root, "blobs")
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		alg := filepath.Base(filepath.Dir(filepath.Dir(p)))
		d, perr := ParseDigest(alg + ":" + e.Name())
		if perr != nil {
			return nil // not a blob
		}
		fi, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		return fn(d, fi.Size(), fi.ModTime())
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Quarantine renames a blob into trash/.
func (b *FSBlobs) Quarantine(_ context.Context, d Digest) (restore, purge func() error, err error) {
	trash := filepath.Join(b.root, "trash")
	if err := os.MkdirAll(trash, 0o700); err != nil {
		return nil, nil, err
	}
	p, aside := b.path(d), filepath.Join(trash, d.Algorithm+"-"+d.Hex)
	if err := os.Rename(p, aside); err != nil {
		return nil, nil, err
	}
	return func() error { return os.Rename(aside, p) }, func() error { return os.Remove(aside) }, nil
}
