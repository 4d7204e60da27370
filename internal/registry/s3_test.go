package registry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
)

// s3Server serves the S3 API over HTTP with one bucket. No S3 service can
// run on the test machines; gofakes3 implements the S3 REST API (signed
// requests, ranges, listing, copy) in memory, and bulwark talks to it
// with the same client and over the same HTTP as to AWS or MinIO.
func s3Server(t *testing.T) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("registry"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestS3Blobs: the registry on an S3 bucket: push, pull, range reads,
// cross-repository mounts; garbage collection removes what no repository
// holds; bad URLs are refused with what to do.
func TestS3Blobs(t *testing.T) {
	host := s3Server(t)
	ctx := context.Background()
	blobs, err := registry.NewS3Blobs(ctx, "s3://"+host+"/registry/team-a?tls=false&region=us-east-1", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &registry.Handler{Store: storetest.Open(t, t.TempDir()+"/b.db"), Blobs: blobs,
		Gate: registry.AllowAllUnsafe, BlobGate: registry.AllowAllBlobsUnsafe, CanRead: registry.AnyoneCanReadUnsafe}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	regHost := strings.TrimPrefix(srv.URL, "http://")
	img, _ := random.Image(4096, 3)
	ref, _ := name.ParseReference(regHost + "/shop/app:1")
	if err := remote.Write(ref, img, remote.WithJobs(1)); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	testenv.ReadLayers(t, got)
	layers, _ := got.Layers()
	// A range request is served from the object.
	d, _ := layers[0].Digest()
	req, _ := http.NewRequest("GET", srv.URL+"/v2/shop/app/blobs/"+d.String(), nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range: %v %v", resp.Status, err)
	}
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rc, _ := layers[0].Compressed()
	whole, _ := io.ReadAll(rc)
	if string(part) != string(whole[10:20]) {
		t.Error("the range differs from the blob")
	}
	// An empty blob.
	empty := registry.SHA256(nil).String()
	if resp, err := http.Post(srv.URL+"/v2/shop/app/blobs/uploads/?digest="+empty, "application/octet-stream", nil); err != nil || resp.StatusCode != 201 {
		t.Fatalf("empty blob: %v %v", resp.Status, err)
	}
	if resp, err := http.Get(srv.URL + "/v2/shop/app/blobs/" + empty); err != nil || resp.StatusCode != 200 || resp.ContentLength != 0 {
		t.Fatalf("get empty blob: %v %v", resp, err)
	}
	count := func() int {
		n := 0
		blobs.Walk(ctx, func(registry.Digest, int64, time.Time) error { n++; return nil })
		return n
	}
	if n := count(); n != 5 {
		t.Fatalf("%d blobs in the bucket, want 5", n)
	}
	// Delete the image: garbage collection empties the bucket's blobs.
	dg, _ := img.Digest()
	dref, _ := name.NewDigest(regHost + "/shop/app@" + dg.String())
	if err := remote.Delete(dref); err != nil {
		t.Fatal(err)
	}
	res, err := h.CollectGarbage(ctx, 0, time.Hour)
	if err != nil || res.Blobs != 5 {
		t.Fatalf("gc: %+v %v", res, err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d blobs left after gc", n)
	}
	for _, bad := range []string{"s3://" + host, "s3://key:secret@" + host + "/registry", "http://" + host + "/registry", "s3://" + host + "/missing-bucket?tls=false"} {
		if _, err := registry.NewS3Blobs(ctx, bad, t.TempDir()); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
