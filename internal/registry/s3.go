package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Blobs keeps blobs in an S3-compatible bucket, under
// PREFIX/blobs/<alg>/<hex>. Uploads are assembled and verified on local
// disk first (uploads/ in the data directory) and put into the bucket
// whole, so the bucket never holds a partial or unverified blob.
// Replicas behind a load balancer need session affinity for chunked
// uploads (or one shared data directory), as with the distribution
// registry's filesystem uploads.
type S3Blobs struct {
	local  *FSBlobs
	client *minio.Client
	bucket string
	prefix string
}

// NewS3Blobs opens the bucket an s3:// URL names:
// s3://HOST[:PORT]/BUCKET[/PREFIX][?tls=false&region=R]. Credentials come
// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (never from the URL,
// which appears in process lists and logs). Uploads are staged in
// localDir.
func NewS3Blobs(ctx context.Context, rawURL, localDir string) (*S3Blobs, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("blob store %q: want s3://HOST[:PORT]/BUCKET[/PREFIX]", rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("blob store: put S3 credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the URL")
	}
	parts := strings.SplitN(strings.Trim(u.Path, "/"), "/", 2)
	if parts[0] == "" {
		return nil, fmt.Errorf("blob store %s: no bucket", u.Redacted())
	}
	q := u.Query()
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")),
		Secure: q.Get("tls") != "false",
		Region: q.Get("region"),
	})
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", u.Redacted(), err)
	}
	local, err := NewFSBlobs(localDir)
	if err != nil {
		return nil, err
	}
	b := &S3Blobs{local: local, client: client, bucket: parts[0]}
	if len(parts) == 2 {
		b.prefix = strings.Trim(parts[1], "/")
	}
	ok, err := client.BucketExists(ctx, b.bucket)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", u.Redacted(), err)
	}
	if !ok {
		return nil, fmt.Errorf("blob store %s: bucket %s does not exist: create it first", u.Redacted(), b.bucket)
	}
	return b, nil
}

func (b *S3Blobs) key(parts ...string) string {
	return path.Join(append([]string{b.prefix}, parts...)...)
}

func (b *S3Blobs) blobKey(d Digest) string { return b.key("blobs", d.Algorithm, d.Hex) }

func noSuchKey(err error) bool {
	var r minio.ErrorResponse
	return errors.As(err, &r) && (r.Code == "NoSuchKey" || r.StatusCode == 404)
}

// Open reads a blob; the object is seekable, for range requests.
func (b *S3Blobs) Open(ctx context.Context, d Digest) (io.ReadSeekCloser, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, b.blobKey(d), minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if noSuchKey(err) {
			return nil, ErrBlobUnknown
		}
		return nil, err
	}
	return obj, nil
}

// NewUpload starts a local upload.
func (b *S3Blobs) NewUpload(ctx context.Context) (string, error) { return b.local.NewUpload(ctx) }

// UploadSize is the local upload's size.
func (b *S3Blobs) UploadSize(ctx context.Context, id string) (int64, error) {
	return b.local.UploadSize(ctx, id)
}

// Append adds to the local upload.
func (b *S3Blobs) Append(ctx context.Context, id string, r io.Reader, max int64) (int64, error) {
	return b.local.Append(ctx, id, r, max)
}

// Cancel discards the local upload.
func (b *S3Blobs) Cancel(ctx context.Context, id string) error { return b.local.Cancel(ctx, id) }

// Commit verifies the upload locally and puts it into the bucket whole
// (an S3 PUT is atomic: readers see the old object or the new one).
func (b *S3Blobs) Commit(ctx context.Context, id string, d Digest) (int64, error) {
	p, n, err := b.local.verify(id, d)
	if err != nil {
		return 0, err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if n == 0 {
		// An empty blob: the client's streaming signature sends a
		// zero-length body without Content-Length, which S3 servers
		// refuse; an unsigned payload hash avoids the streaming path
		// (the digest was verified above).
		opts.DisableContentSha256 = true
		_, err = b.client.PutObject(ctx, b.bucket, b.blobKey(d), bytes.NewReader(nil), 0, opts)
	} else {
		_, err = b.client.FPutObject(ctx, b.bucket, b.blobKey(d), p, opts)
	}
	if err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	os.Remove(p)
	return n, nil
}

// Walk lists the blobs in the bucket.
func (b *S3Blobs) Walk(ctx context.Context, fn func(d Digest, size int64, modified time.Time) error) error {
	prefix := b.key("blobs") + "/"
	for obj := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		alg, hex, ok := strings.Cut(strings.TrimPrefix(obj.Key, prefix), "/")
		if !ok {
			continue
		}
		d, err := ParseDigest(alg + ":" + hex)
		if err != nil {
			continue // not a blob
		}
		if err := fn(d, obj.Size, obj.LastModified); err != nil {
			return err
		}
	}
	return nil
}

// Quarantine copies a blob to PREFIX/trash/ and removes it.
func (b *S3Blobs) Quarantine(ctx context.Context, d Digest) (restore, purge func() error, err error) {
	// restore and purge run after the walk that called this may have
	// ended: they must not die with its context.
	ctx = context.WithoutCancel(ctx)
	src, aside := b.blobKey(d), b.key("trash", d.Algorithm+"-"+d.Hex)
	cp := func(from, to string) error {
		_, err := b.client.CopyObject(ctx, minio.CopyDestOptions{Bucket: b.bucket, Object: to}, minio.CopySrcOptions{Bucket: b.bucket, Object: from})
		return err
	}
	if err := cp(src, aside); err != nil {
		return nil, nil, err
	}
	if err := b.client.RemoveObject(ctx, b.bucket, src, minio.RemoveObjectOptions{}); err != nil {
		return nil, nil, err
	}
	restore = func() error {
		if err := cp(aside, src); err != nil {
			return err
		}
		return b.client.RemoveObject(ctx, b.bucket, aside, minio.RemoveObjectOptions{})
	}
	purge = func() error { return b.client.RemoveObject(ctx, b.bucket, aside, minio.RemoveObjectOptions{}) }
	return restore, purge, nil
}
