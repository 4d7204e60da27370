package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
)

func TestRegistryMetadata(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.LinkBlob(ctx, "a/b", "sha256:01", 10); err != nil {
			t.Fatal(err)
		}
		if err := s.LinkBlob(ctx, "a/b", "sha256:01", 10); err != nil {
			t.Fatalf("linking twice: %v", err)
		}
		if n, err := s.BlobSize(ctx, "a/b", "sha256:01"); err != nil || n != 10 {
			t.Errorf("BlobSize: %d %v", n, err)
		}
		if _, err := s.BlobSize(ctx, "other", "sha256:01"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a blob of another repository: %v", err)
		}
		img := &store.Manifest{Repo: "a/b", Digest: "sha256:m1", MediaType: "application/vnd.oci.image.manifest.v1+json",
			Content: []byte(`{"schemaVersion":2}`), Refs: []string{"sha256:01"}}
		if err := s.PutManifest(ctx, img, "v1"); err != nil {
			t.Fatal(err)
		}
		sig := &store.Manifest{Repo: "a/b", Digest: "sha256:s1", MediaType: img.MediaType, Content: []byte(`{}`),
			Subject: "sha256:m1", ArtifactType: "application/example", Annotations: map[string]string{"k": "v"}}
		if err := s.PutManifest(ctx, sig); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetManifest(ctx, "a/b", "sha256:m1")
		if err != nil || string(got.Content) != `{"schemaVersion":2}` || got.MediaType != img.MediaType {
			t.Fatalf("GetManifest: %+v %v", got, err)
		}
		if d, err := s.ResolveTag(ctx, "a/b", "v1"); err != nil || d != "sha256:m1" {
			t.Errorf("ResolveTag: %s %v", d, err)
		}
		refs, err := s.Referrers(ctx, "a/b", "sha256:m1")
		if err != nil || len(refs) != 1 || refs[0].ArtifactType != "application/example" || refs[0].Annotations["k"] != "v" {
			t.Errorf("Referrers: %+v %v", refs, err)
		}
		// Pagination in lexical order.
		for i := 0; i < 5; i++ {
			s.PutManifest(ctx, img, fmt.Sprintf("t%d", i))
		}
		page, more, err := s.Tags(ctx, "a/b", "", 3)
		if err != nil || !more || !cmp.Equal(page, []string{"t0", "t1", "t2"}) {
			t.Errorf("first page: %v %v %v", page, more, err)
		}
		page, more, err = s.Tags(ctx, "a/b", "t2", 3)
		if err != nil || more || !cmp.Equal(page, []string{"t3", "t4", "v1"}) {
			t.Errorf("second page: %v %v %v", page, more, err)
		}
		// Deleting a manifest removes its tags.
		if err := s.DeleteManifest(ctx, "a/b", "sha256:m1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResolveTag(ctx, "a/b", "v1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tag after its manifest was deleted: %v", err)
		}
		if err := s.DeleteManifest(ctx, "a/b", "sha256:m1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting twice: %v", err)
		}
		repos, _, err := s.Repositories(ctx, "", 0)
		if err != nil || !cmp.Equal(repos, []string{"a/b"}) {
			t.Errorf("Repositories: %v %v", repos, err)
		}
	})
}

// TestMigrationsIdempotent opens the same database twice: the second open
// applies nothing and keeps the data.
func TestMigrationsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := storetest.Open(t, dsn)
		if err := s.LinkBlob(ctx, "r", "sha256:aa", 1); err != nil {
			t.Fatal(err)
		}
		s2 := storetest.Open(t, dsn)
		if _, err := s2.BlobSize(ctx, "r", "sha256:aa"); err != nil {
			t.Errorf("after reopening: %v", err)
		}
	})
}
