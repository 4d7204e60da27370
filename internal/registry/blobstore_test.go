package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/registry"
)

// The blob store conformance suite: every BlobStore implementation runs
// the same cases (as distribution's storage driver test suites do), so
// a registry behaves the same whichever store holds its bytes.
func TestBlobStoreConformance(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) registry.BlobStore
	}{
		{"filesystem", func(t *testing.T) registry.BlobStore {
			b, err := registry.NewFSBlobs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"s3", func(t *testing.T) registry.BlobStore {
			b, err := registry.NewS3Blobs(context.Background(), "s3://"+s3Server(t)+"/registry/conf?tls=false&region=us-east-1", t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"memory", func(*testing.T) registry.BlobStore { return registry.NewMemBlobs() }},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			for _, c := range blobCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, s.open(t)) })
			}
		})
	}
}

func digestOf(b []byte) registry.Digest {
	sum := sha256.Sum256(b)
	return registry.Digest{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// put uploads content in the given chunks and commits it.
func put(t *testing.T, b registry.BlobStore, chunks ...string) registry.Digest {
	t.Helper()
	ctx := context.Background()
	id, err := b.NewUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if _, err := b.Append(ctx, id, strings.NewReader(c), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	d := digestOf([]byte(strings.Join(chunks, "")))
	n, err := b.Commit(ctx, id, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(strings.Join(chunks, ""))); n != want {
		t.Fatalf("Commit size = %d, want %d", n, want)
	}
	return d
}

func read(t *testing.T, b registry.BlobStore, d registry.Digest) string {
	t.Helper()
	rc, err := b.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open %s: %v", d, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func walk(t *testing.T, b registry.BlobStore) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := b.Walk(context.Background(), func(d registry.Digest, size int64, modified time.Time) error {
		if modified.IsZero() {
			t.Errorf("Walk: %s has no modification time", d)
		}
		got[d.String()] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var blobCases = []struct {
	name string
	run  func(t *testing.T, b registry.BlobStore)
}{
	{"missing blob is ErrBlobUnknown", func(t *testing.T, b registry.BlobStore) {
		if _, err := b.Open(context.Background(), digestOf([]byte("nothing"))); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("Open missing = %v, want ErrBlobUnknown", err)
		}
	}},
	{"chunked upload round trip", func(t *testing.T, b registry.BlobStore) {
		d := put(t, b, "hello, ", "blob ", "world")
		if got := read(t, b, d); got != "hello, blob world" {
			t.Fatalf("read %q", got)
		}
	}},
	{"empty blob", func(t *testing.T, b registry.BlobStore) {
		d := put(t, b)
		if got := read(t, b, d); got != "" {
			t.Fatalf("read %q", got)
		}
		if got := walk(t, b); got[d.String()] != 0 || len(got) != 1 {
			t.Fatalf("Walk = %v", got)
		}
	}},
	{"upload size grows per chunk", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		id, _ := b.NewUpload(ctx)
		for i, want := range []int64{3, 7} {
			n, err := b.Append(ctx, id, strings.NewReader([]string{"abc", "defg"}[i]), 100)
			if err != nil || n != want {
				t.Fatalf("Append #%d = %d, %v; want %d", i, n, err, want)
			}
			if got, err := b.UploadSize(ctx, id); err != nil || got != want {
				t.Fatalf("UploadSize = %d, %v; want %d", got, err, want)
			}
		}
	}},
	{"range reads seek", func(t *testing.T, b registry.BlobStore) {
		d := put(t, b, "0123456789")
		rc, err := b.Open(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := rc.Seek(4, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 3)
		if _, err := io.ReadFull(rc, got); err != nil || string(got) != "456" {
			t.Fatalf("after Seek(4): %q, %v", got, err)
		}
		if end, err := rc.Seek(0, io.SeekEnd); err != nil || end != 10 {
			t.Fatalf("Seek end = %d, %v", end, err)
		}
	}},
	{"digest mismatch discards the upload", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		id, _ := b.NewUpload(ctx)
		b.Append(ctx, id, strings.NewReader("real content"), 100)
		claimed := digestOf([]byte("other content"))
		if _, err := b.Commit(ctx, id, claimed); !errors.Is(err, registry.ErrDigestMismatch) {
			t.Fatalf("Commit with a wrong digest = %v, want ErrDigestMismatch", err)
		}
		if _, err := b.Open(ctx, claimed); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("the mismatched blob is readable: %v", err)
		}
		if _, err := b.UploadSize(ctx, id); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("the mismatched upload survives: %v", err)
		}
		if got := walk(t, b); len(got) != 0 {
			t.Fatalf("Walk after a mismatch = %v", got)
		}
	}},
	{"size limit", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		id, _ := b.NewUpload(ctx)
		if _, err := b.Append(ctx, id, strings.NewReader("12345"), 5); err != nil {
			t.Fatalf("exactly the limit: %v", err)
		}
		if _, err := b.Append(ctx, id, strings.NewReader("6"), 5); err == nil {
			t.Fatal("one byte past the limit was accepted")
		}
		id2, _ := b.NewUpload(ctx)
		if _, err := b.Append(ctx, id2, bytes.NewReader(make([]byte, 1<<16)), 1000); err == nil {
			t.Fatal("a chunk past the limit was accepted")
		}
	}},
	{"unknown and hostile upload IDs", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		for _, id := range []string{"", "0123456789abcdef0123456789abcdef", "../../blobs/x", "/etc/passwd", strings.Repeat("a", 4096)} {
			if _, err := b.UploadSize(ctx, id); !errors.Is(err, registry.ErrBlobUnknown) {
				t.Errorf("UploadSize(%q) = %v, want ErrBlobUnknown", id, err)
			}
			if _, err := b.Append(ctx, id, strings.NewReader("x"), 10); !errors.Is(err, registry.ErrBlobUnknown) {
				t.Errorf("Append(%q) = %v, want ErrBlobUnknown", id, err)
			}
			if _, err := b.Commit(ctx, id, digestOf(nil)); !errors.Is(err, registry.ErrBlobUnknown) {
				t.Errorf("Commit(%q) = %v, want ErrBlobUnknown", id, err)
			}
			if err := b.Cancel(ctx, id); !errors.Is(err, registry.ErrBlobUnknown) {
				t.Errorf("Cancel(%q) = %v, want ErrBlobUnknown", id, err)
			}
		}
	}},
	{"cancel ends an upload", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		id, _ := b.NewUpload(ctx)
		b.Append(ctx, id, strings.NewReader("partial"), 100)
		if err := b.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Commit(ctx, id, digestOf([]byte("partial"))); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("Commit after Cancel = %v", err)
		}
		if err := b.Cancel(ctx, id); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("second Cancel = %v", err)
		}
	}},
	{"uploads are independent", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		a, _ := b.NewUpload(ctx)
		c, _ := b.NewUpload(ctx)
		if a == c {
			t.Fatal("two uploads share an ID")
		}
		b.Append(ctx, a, strings.NewReader("aaa"), 10)
		b.Append(ctx, c, strings.NewReader("c"), 10)
		if n, _ := b.UploadSize(ctx, a); n != 3 {
			t.Fatalf("upload a = %d bytes", n)
		}
		if n, _ := b.UploadSize(ctx, c); n != 1 {
			t.Fatalf("upload c = %d bytes", n)
		}
	}},
	{"walk lists every blob once", func(t *testing.T, b registry.BlobStore) {
		want := map[string]int64{}
		for i := range 5 {
			content := strings.Repeat("x", i+1)
			want[put(t, b, content).String()] = int64(len(content))
		}
		put(t, b, "x") // the same content again is the same blob
		if diff := cmp.Diff(want, walk(t, b)); diff != "" {
			t.Fatalf("Walk (-want +got):\n%s", diff)
		}
	}},
	{"walk stops on the callback's error and on a cancelled context", func(t *testing.T, b registry.BlobStore) {
		put(t, b, "one")
		put(t, b, "two")
		stop := errors.New("stop")
		calls := 0
		err := b.Walk(context.Background(), func(registry.Digest, int64, time.Time) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("Walk = %v after %d calls, want stop after 1", err, calls)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := b.Walk(ctx, func(registry.Digest, int64, time.Time) error { return nil }); err == nil {
			t.Fatal("Walk with a cancelled context succeeded")
		}
	}},
	{"quarantine hides, restore returns, purge deletes", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		keep, gone := put(t, b, "keep"), put(t, b, "gone")
		restore, _, err := b.Quarantine(ctx, keep)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(ctx, keep); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("a quarantined blob is readable: %v", err)
		}
		if got := walk(t, b); len(got) != 1 {
			t.Fatalf("Walk sees a quarantined blob: %v", got)
		}
		if err := restore(); err != nil {
			t.Fatal(err)
		}
		if got := read(t, b, keep); got != "keep" {
			t.Fatalf("restored blob = %q", got)
		}
		_, purge, err := b.Quarantine(ctx, gone)
		if err != nil {
			t.Fatal(err)
		}
		if err := purge(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(ctx, gone); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Fatalf("a purged blob is readable: %v", err)
		}
		if diff := cmp.Diff(map[string]int64{keep.String(): 4}, walk(t, b)); diff != "" {
			t.Fatalf("Walk after purge (-want +got):\n%s", diff)
		}
		if _, _, err := b.Quarantine(ctx, gone); err == nil {
			t.Fatal("quarantining a missing blob succeeded")
		}
	}},
	{"a blob committed again after a purge is readable", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		d := put(t, b, "again")
		_, purge, err := b.Quarantine(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		purge()
		put(t, b, "again")
		if got := read(t, b, d); got != "again" {
			t.Fatalf("read %q", got)
		}
	}},
	{"concurrent uploads of the same content", func(t *testing.T, b registry.BlobStore) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		content := strings.Repeat("same", 1000)
		for range 8 {
			wg.Go(func() {
				ctx := context.Background()
				id, err := b.NewUpload(ctx)
				if err == nil {
					_, err = b.Append(ctx, id, strings.NewReader(content), 1<<20)
				}
				if err == nil {
					_, err = b.Commit(ctx, id, digestOf([]byte(content)))
				}
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := read(t, b, digestOf([]byte(content))); got != content {
			t.Fatalf("read %d bytes", len(got))
		}
		keys := []string{}
		for k := range walk(t, b) {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if want := []string{digestOf([]byte(content)).String()}; !cmp.Equal(keys, want) {
			t.Fatalf("Walk = %v, want %v", keys, want)
		}
	}},
	{"sha512 blobs", func(t *testing.T, b registry.BlobStore) {
		ctx := context.Background()
		d, err := registry.ParseDigest(fmt.Sprintf("sha512:%0128x", 0))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := b.NewUpload(ctx)
		b.Append(ctx, id, strings.NewReader("512"), 10)
		if _, err := b.Commit(ctx, id, d); !errors.Is(err, registry.ErrDigestMismatch) {
			t.Fatalf("sha512 mismatch = %v", err)
		}
	}},
}
