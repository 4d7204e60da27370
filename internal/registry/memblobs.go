package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// MemBlobs is a BlobStore in memory, for tests: nothing survives the
// process. It holds the same contract as FSBlobs and S3Blobs.
type MemBlobs struct {
	mu      sync.Mutex
	blobs   map[Digest]memBlob
	trash   map[Digest]memBlob
	uploads map[string]*bytes.Buffer
	now     func() time.Time
}

type memBlob struct {
	data     []byte
	modified time.Time
}

// NewMemBlobs returns an empty in-memory blob store.
func NewMemBlobs() *MemBlobs {
	return &MemBlobs{blobs: map[Digest]memBlob{}, trash: map[Digest]memBlob{}, uploads: map[string]*bytes.Buffer{}, now: time.Now}
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

// Open reads a blob. The bytes are shared, never written again: a
// committed blob is immutable.
func (b *MemBlobs) Open(_ context.Context, d Digest) (io.ReadSeekCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	blob, ok := b.blobs[d]
	if !ok {
		return nil, ErrBlobUnknown
	}
	return memReader{bytes.NewReader(blob.data)}, nil
}

// NewUpload starts an empty upload.
func (b *MemBlobs) NewUpload(context.Context) (string, error) {
	r := make([]byte, 16)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	id := hex.EncodeToString(r)
	b.mu.Lock()
	b.uploads[id] = &bytes.Buffer{}
	b.mu.Unlock()
	return id, nil
}

// UploadSize returns how many bytes an upload holds.
func (b *MemBlobs) UploadSize(_ context.Context, id string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.uploads[id]
	if !ok {
		return 0, ErrBlobUnknown
	}
	return int64(u.Len()), nil
}

// Append adds r to an upload. The copy runs outside the lock (a slow
// client must not stall the store) into a private buffer, appended
// under the lock.
func (b *MemBlobs) Append(_ context.Context, id string, r io.Reader, max int64) (int64, error) {
	size, err := b.UploadSize(context.Background(), id)
	if err != nil {
		return 0, err
	}
	var chunk bytes.Buffer
	_, err = io.Copy(&chunk, io.LimitReader(r, max-size+1))
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.uploads[id]
	if !ok {
		return 0, ErrBlobUnknown
	}
	u.Write(chunk.Bytes())
	total := int64(u.Len())
	if err != nil {
		return total, err
	}
	if total > max {
		return total, fmt.Errorf("blob exceeds the %d-byte limit", max)
	}
	return total, nil
}

// Commit verifies an upload and makes it the blob.
func (b *MemBlobs) Commit(_ context.Context, id string, d Digest) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.uploads[id]
	if !ok {
		return 0, ErrBlobUnknown
	}
	delete(b.uploads, id)
	h := d.hasher()
	h.Write(u.Bytes())
	if hex.EncodeToString(h.Sum(nil)) != d.Hex {
		return 0, ErrDigestMismatch
	}
	b.blobs[d] = memBlob{data: u.Bytes(), modified: b.now()}
	return int64(u.Len()), nil
}

// Cancel discards an upload.
func (b *MemBlobs) Cancel(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.uploads[id]; !ok {
		return ErrBlobUnknown
	}
	delete(b.uploads, id)
	return nil
}

// Walk lists the blobs (a snapshot: fn may call the store).
func (b *MemBlobs) Walk(ctx context.Context, fn func(d Digest, size int64, modified time.Time) error) error {
	b.mu.Lock()
	type entry struct {
		d Digest
		memBlob
	}
	all := make([]entry, 0, len(b.blobs))
	for d, blob := range b.blobs {
		all = append(all, entry{d, blob})
	}
	b.mu.Unlock()
	for _, e := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.d, int64(len(e.data)), e.modified); err != nil {
			return err
		}
	}
	return nil
}

// Quarantine moves a blob into the trash.
func (b *MemBlobs) Quarantine(_ context.Context, d Digest) (restore, purge func() error, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	blob, ok := b.blobs[d]
	if !ok {
		return nil, nil, ErrBlobUnknown
	}
	delete(b.blobs, d)
	b.trash[d] = blob
	restore = func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if t, ok := b.trash[d]; ok {
			delete(b.trash, d)
			b.blobs[d] = t
		}
		return nil
	}
	purge = func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.trash, d)
		return nil
	}
	return restore, purge, nil
}
