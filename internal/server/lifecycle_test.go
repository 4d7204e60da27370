package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/sign"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
	"sync/atomic"
)

// TestImmutableTags: an immutable tag cannot move or be deleted, nor its
// manifest; pushing the same digest again is fine; other tags move.
func TestImmutableTags(t *testing.T) {
	ts := start(t, filepath.Join(t.TempDir(), "bulwark.db"))
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
	if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", `{"blockSeverity":"none","unscanned":"allow","immutableTags":["v*"]}`); code != 200 {
		t.Fatalf("policy: %d %v", code, body)
	}
	ref := func(s string) name.Reference { r, _ := name.ParseReference(ts.host + "/shop/app:" + s); return r }
	a, _ := random.Image(128, 1)
	b, _ := random.Image(128, 1)
	if err := remote.Write(ref("v1"), a, admin); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("v1"), a, admin); err != nil {
		t.Errorf("pushing the same digest again: %v", err)
	}
	if err := remote.Write(ref("v1"), b, admin); status(err) != 403 || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("moving v1: %v", err)
	}
	// The refused push changed nothing and is on the record.
	db, _ := b.Digest()
	if _, err := ts.store.GetManifest(context.Background(), "shop/app", db.String()); err == nil {
		t.Error("the refused push stored its manifest")
	}
	denied := false
	ts.store.AuditRecords(context.Background(), func(r *store.AuditRecord) error {
		denied = denied || r.Action == "registry.push" && r.Outcome == "denied" && strings.Contains(r.Detail, "immutable")
		return nil
	})
	if !denied {
		t.Error("the refused push is not in the audit trail")
	}
	if err := remote.Write(ref("latest"), a, admin); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("latest"), b, admin); err != nil {
		t.Errorf("moving a mutable tag: %v", err)
	}
	if err := remote.Delete(ref("v1"), admin); status(err) != 403 {
		t.Errorf("deleting v1: %v", err)
	}
	da, _ := a.Digest()
	if err := remote.Delete(ts.digestRef(t, "shop/app", da), admin); status(err) != 403 {
		t.Errorf("deleting v1's manifest: %v", err)
	}
	if d, _ := remote.Head(ref("v1"), admin); d == nil || d.Digest != da {
		t.Errorf("v1 moved: %v", d)
	}
	// Racing first pushes of an immutable tag: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan v1.Hash, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img, _ := random.Image(64, 1)
			if err := remote.Write(ref("v9"), img, admin); err == nil {
				d, _ := img.Digest()
				wins <- d
			}
		}()
	}
	wg.Wait()
	close(wins)
	var won []v1.Hash
	for d := range wins {
		won = append(won, d)
	}
	if d, _ := remote.Head(ref("v9"), admin); len(won) != 1 || d == nil || d.Digest != won[0] {
		t.Errorf("%d pushes of v9 won; v9 is %v", len(won), d)
	}
}

func (ts *testServer) digestRef(t *testing.T, repo string, d v1.Hash) name.Digest {
	r, err := name.NewDigest(ts.host + "/" + repo + "@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRetentionAndGC: retention keeps the newest tags and a recently
// pulled one, removes the rest with their manifests and signatures; the
// collector then frees their blobs, spares an upload in progress and
// every blob of what remains.
func TestRetentionAndGC(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := start(t, dsn)
		advance := injectClock(ts)
		ctx := context.Background()
		admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
		if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/shop/policy",
			`{"blockSeverity":"none","unscanned":"allow","retention":{"keepLast":2,"pulledWithinDays":7}}`); code != 200 {
			t.Fatalf("policy: %d %v", code, body)
		}
		pub, signer := testenv.SigningKey(t)
		var digests []v1.Hash
		for i := 1; i <= 5; i++ {
			img, _ := random.Image(1024, 2)
			r, _ := name.ParseReference(fmt.Sprintf("%s/shop/app:%d", ts.host, i))
			if err := remote.Write(r, img, admin); err != nil {
				t.Fatal(err)
			}
			if _, err := sign.SignBundle(ctx, r, signer, nil, admin); err != nil {
				t.Fatal(err)
			}
			if _, err := sign.Sign(ctx, r, signer, nil, admin); err != nil { // the .sig tag too
				t.Fatal(err)
			}
			d, _ := img.Digest()
			digests = append(digests, d)
			advance(time.Second) // distinct push times
		}
		// Tag 1 was pulled lately: kept.
		r1, _ := name.ParseReference(ts.host + "/shop/app:1")
		if _, err := remote.Image(r1, admin); err != nil {
			t.Fatal(err)
		}
		code, body := ts.call(t, "admin", adminPW, "POST", "/api/v1/projects/shop/retention?dryRun=true", "")
		if code != 200 || len(body["removed"].([]any)) != 2 {
			t.Fatalf("dry run: %d %v", code, body)
		}
		if tags, _ := remote.List(r1.Context(), admin); len(tags) != 10 {
			t.Fatalf("a dry run removed tags: %v", tags)
		}
		code, body = ts.call(t, "admin", adminPW, "POST", "/api/v1/projects/shop/retention", "")
		if code != 200 || len(body["removed"].([]any)) != 2 {
			t.Fatalf("retention: %d %v", code, body)
		}
		tags, _ := remote.List(r1.Context(), admin)
		var plain []string
		for _, tag := range tags {
			if !strings.HasSuffix(tag, ".sig") {
				plain = append(plain, tag)
			}
		}
		if strings.Join(plain, ",") != "1,4,5" || len(tags) != 6 {
			t.Errorf("kept tags %v, want 1,4,5 and their three .sig tags", tags)
		}
		for _, i := range []int{1, 2} { // tags 2 and 3
			if _, err := ts.store.GetManifest(ctx, "shop/app", digests[i].String()); err == nil {
				t.Errorf("the manifest of tag %d survived", i+1)
			}
			if refs, _ := ts.store.Referrers(ctx, "shop/app", digests[i].String()); len(refs) != 0 {
				t.Errorf("the signature of tag %d survived", i+1)
			}
		}
		// An upload in progress: one chunk sent, no manifest yet.
		loc := startUpload(t, ts, []byte("half of a layer"))
		blobsBefore := countFiles(t, filepath.Join(ts.cfg.DataDir, "blobs"))
		code, body = ts.call(t, "admin", adminPW, "POST", "/api/v1/gc?grace=0s", "")
		if code != 200 || body["blobs"].(float64) == 0 {
			t.Fatalf("gc: %d %v", code, body)
		}
		if after := countFiles(t, filepath.Join(ts.cfg.DataDir, "blobs")); after >= blobsBefore {
			t.Errorf("blob files %d -> %d", blobsBefore, after)
		}
		// Everything that remains pulls whole, signatures verify.
		for _, tag := range []string{"1", "4", "5"} {
			r, _ := name.ParseReference(ts.host + "/shop/app:" + tag)
			img, err := remote.Image(r, admin)
			if err != nil {
				t.Fatalf("%s: %v", tag, err)
			}
			testenv.ReadLayers(t, img)
			if _, err := sign.Verify(ctx, r, mustVerifier(t, pub), admin); err != nil {
				t.Errorf("%s: signature after gc: %v", tag, err)
			}
		}
		// The upload in progress survived and completes.
		rest := []byte(" and the rest")
		dg := registryDigest(append([]byte("half of a layer"), rest...))
		req, _ := http.NewRequest("PUT", ts.url+loc+"?digest="+dg, bytes.NewReader(rest))
		req.SetBasicAuth("admin", adminPW)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Errorf("finishing the upload after gc: %v %v", resp.Status, err)
		}
	})
}

func startUpload(t *testing.T, ts *testServer, chunk []byte) string {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.url+"/v2/shop/app/blobs/uploads/", nil)
	req.SetBasicAuth("admin", adminPW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("start upload: %v %v", resp.Status, err)
	}
	loc := resp.Header.Get("Location")
	req, _ = http.NewRequest("PATCH", ts.url+loc, bytes.NewReader(chunk))
	req.SetBasicAuth("admin", adminPW)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 202 {
		t.Fatalf("chunk: %v %v", resp.Status, err)
	}
	return loc
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func registryDigest(b []byte) string { return registry.SHA256(b).String() }

// TestRetentionStaysInItsProject: project a_b's retention must not read
// "_" as a wildcard and reach a-b/ or axb/ (their tags, immutable ones
// included, and manifests survive), and each removal is audited with
// whoever configured the rule.
func TestRetentionStaysInItsProject(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := start(t, dsn)
		advance := injectClock(ts)
		ctx := context.Background()
		admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
		for _, p := range []string{"a_b", "a-b", "axb"} {
			pol := `{"blockSeverity":"none","unscanned":"allow","immutableTags":["v*"]}`
			if p == "a_b" {
				pol = `{"blockSeverity":"none","unscanned":"allow","retention":{"keepLast":1}}`
			}
			if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/"+p+"/policy", pol); code != 200 {
				t.Fatalf("policy %s: %d %v", p, code, body)
			}
			for _, tag := range []string{"v1", "v2"} {
				img, _ := random.Image(256, 1)
				r, _ := name.ParseReference(ts.host + "/" + p + "/app:" + tag)
				if err := remote.Write(r, img, admin); err != nil {
					t.Fatal(err)
				}
				advance(time.Second)
			}
		}
		removed, err := ts.ApplyRetention(ctx, "a_b", "system", false, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(removed) != 1 || removed[0].Repo != "a_b/app" || removed[0].Tag != "v1" {
			t.Errorf("removed %+v, want only a_b/app:v1", removed)
		}
		for _, p := range []string{"a-b", "axb"} {
			r, _ := name.ParseReference(ts.host + "/" + p + "/app:v1")
			tags, err := remote.List(r.Context(), admin)
			if err != nil || len(tags) != 2 {
				t.Errorf("%s/app tags after a_b's retention: %v %v", p, tags, err)
			}
		}
		found := false
		ts.store.AuditRecords(ctx, func(r *store.AuditRecord) error {
			if r.Action == "retention.remove" {
				found = true
				if r.Actor != "system" || !strings.Contains(r.Detail, `"configured_by":"admin"`) {
					t.Errorf("retention record: actor %s detail %s", r.Actor, r.Detail)
				}
			}
			return nil
		})
		if !found {
			t.Error("the removal was not audited")
		}
	})
}

// injectClock gives the store a clock the test moves (before any request
// is served), so ordering by time needs no sleeps.
func injectClock(ts *testServer) func(time.Duration) {
	var offset atomic.Int64
	base := time.Now()
	ts.store.Now = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	return func(d time.Duration) { offset.Add(int64(d)) }
}
