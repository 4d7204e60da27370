package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
)

type fixture struct {
	url, host string
	h         *registry.Handler
	mu        sync.Mutex
	events    []registry.Event
}

func serve(t *testing.T, dsn string) *fixture {
	t.Helper()
	blobs, err := registry.NewFSBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{}
	f.h = &registry.Handler{Store: storetest.Open(t, dsn), Blobs: blobs, MaxBlob: 1 << 20,
		Gate: registry.AllowAllUnsafe, BlobGate: registry.AllowAllBlobsUnsafe, CanRead: registry.AnyoneCanReadUnsafe}
	f.h.OnEvent = func(_ context.Context, e registry.Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	}
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.host = strings.TrimPrefix(srv.URL, "http://")
	return f
}

func (f *fixture) do(t *testing.T, method, path, contentType string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func errCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// TestPushPull pushes a real image with go-containerregistry (the client
// crane, ko and cosign use), pulls it back intact, and checks the events.
func TestPushPull(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		f := serve(t, dsn)
		img, _ := random.Image(2048, 3)
		ref, _ := name.ParseReference(f.host + "/team/app:v1")
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := img.Digest()
		if d, _ := got.Digest(); d != want {
			t.Fatalf("pulled %s, pushed %s", d, want)
		}
		testenv.ReadLayers(t, got)
		// A second repository mounts the blobs instead of uploading them.
		ref2, _ := name.ParseReference(f.host + "/team/other:v1")
		if err := remote.Write(ref2, got); err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(ref.Context())
		if err != nil || len(tags) != 1 || tags[0] != "v1" {
			t.Errorf("tags: %v %v", tags, err)
		}
		counts := map[string]int{}
		f.mu.Lock()
		for _, e := range f.events {
			counts[e.Action+" "+e.Kind]++
		}
		f.mu.Unlock()
		if counts["push manifest"] != 2 || counts["push blob"] != 4 || counts["mount blob"] < 3 || counts["pull manifest"] < 1 {
			t.Errorf("events: %v", counts)
		}
	})
}

// TestRefusals: each malformed or hostile request gets the spec's error
// code, and nothing is stored.
func TestRefusals(t *testing.T) {
	f := serve(t, storetestSQLite(t))
	cfg := []byte(`{}`)
	cfgDigest := registry.SHA256(cfg).String()
	resp := f.do(t, "POST", "/v2/a/b/blobs/uploads/?digest="+cfgDigest, "application/octet-stream", cfg)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic upload: %d", resp.StatusCode)
	}
	missing := registry.SHA256([]byte("never pushed")).String()
	manifest := func(layer string) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":1}]}`, cfgDigest, layer))
	}
	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code                      string
	}{
		{"digest mismatch on upload", "POST", "/v2/a/b/blobs/uploads/?digest=" + missing, "", []byte("other bytes"), 400, "DIGEST_INVALID"},
		{"unsupported digest algorithm", "POST", "/v2/a/b/blobs/uploads/?digest=md5:abc", "", []byte("x"), 400, "DIGEST_INVALID"},
		{"invalid repository name", "GET", "/v2/A/../b/tags/list", "", nil, 400, "NAME_INVALID"},
		{"upload id traversal", "GET", "/v2/a/b/blobs/uploads/..%2f..%2fetc", "", nil, 404, "NOT_FOUND"},
		{"unknown upload id", "PATCH", "/v2/a/b/blobs/uploads/0123456789abcdef0123456789abcdef", "", []byte("x"), 404, "BLOB_UPLOAD_UNKNOWN"},
		{"manifest naming a missing layer", "PUT", "/v2/a/b/manifests/v1", "application/vnd.oci.image.manifest.v1+json", manifest(missing), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"manifest that is not JSON", "PUT", "/v2/a/b/manifests/v1", "application/vnd.oci.image.manifest.v1+json", []byte("{"), 400, "MANIFEST_INVALID"},
		{"media type differs from the body", "PUT", "/v2/a/b/manifests/v1", "application/vnd.oci.image.index.v1+json", manifest(cfgDigest), 400, "MANIFEST_INVALID"},
		{"unknown manifest media type", "PUT", "/v2/a/b/manifests/v1", "text/plain", []byte(`{"schemaVersion":2}`), 400, "MANIFEST_INVALID"},
		{"manifest digest mismatch", "PUT", "/v2/a/b/manifests/" + missing, "application/vnd.oci.image.manifest.v1+json", manifest(cfgDigest), 400, "DIGEST_INVALID"},
		{"oversized manifest", "PUT", "/v2/a/b/manifests/big", "application/vnd.oci.image.manifest.v1+json", bytes.Repeat([]byte(" "), 4<<20+1), 413, "SIZE_INVALID"},
		{"oversized blob", "POST", "/v2/a/b/blobs/uploads/?digest=" + registry.SHA256(make([]byte, 1<<20+1)).String(), "", make([]byte, 1<<20+1), 413, "SIZE_INVALID"},
		{"unknown manifest", "GET", "/v2/a/b/manifests/nope", "", nil, 404, "MANIFEST_UNKNOWN"},
		{"blob of another repository", "GET", "/v2/other/repo/blobs/" + cfgDigest, "", nil, 404, "BLOB_UNKNOWN"},
		{"tags of an unknown repository", "GET", "/v2/nobody/tags/list", "", nil, 404, "NAME_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, tc.method, tc.path, tc.ctype, tc.body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if code := errCode(t, resp); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
		})
	}
	if _, err := f.h.Store.ResolveTag(context.Background(), "a/b", "v1"); err == nil {
		t.Error("a refused manifest was tagged")
	}
}

func storetestSQLite(t *testing.T) string {
	return t.TempDir() + "/bulwark.db"
}

// TestChunkedUpload: chunks must continue the upload; one that skips
// ahead is refused with 416 and the upload survives it.
func TestChunkedUpload(t *testing.T) {
	f := serve(t, storetestSQLite(t))
	resp := f.do(t, "POST", "/v2/c/d/blobs/uploads/", "", nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start: %d %q", resp.StatusCode, loc)
	}
	chunk := func(start int, b []byte) *http.Response {
		req, _ := http.NewRequest("PATCH", f.url+loc, bytes.NewReader(b))
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+len(b)-1))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := chunk(0, []byte("hello ")); r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-5" {
		t.Fatalf("first chunk: %d %s", r.StatusCode, r.Header.Get("Range"))
	}
	if r := chunk(10, []byte("world")); r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("out-of-order chunk: %d", r.StatusCode)
	}
	if r := chunk(6, []byte("world")); r.StatusCode != http.StatusAccepted {
		t.Fatalf("second chunk: %d", r.StatusCode)
	}
	d := registry.SHA256([]byte("hello world")).String()
	if r := f.do(t, "PUT", loc+"?digest="+d, "", nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("finish: %d", r.StatusCode)
	}
	r := f.do(t, "GET", "/v2/c/d/blobs/"+d, "", nil)
	body, _ := io.ReadAll(r.Body)
	if string(body) != "hello world" {
		t.Errorf("blob: %q", body)
	}
}

// TestMountNeedsReadAccess: a blob is mounted only from a repository the
// caller may read, with from= or anonymously.
func TestMountNeedsReadAccess(t *testing.T) {
	f := serve(t, storetestSQLite(t))
	f.h.CanRead = func(_ *http.Request, repo string) bool { return !strings.HasPrefix(repo, "secret/") }
	blob := []byte("confidential layer")
	d := registry.SHA256(blob).String()
	f.do(t, "POST", "/v2/secret/app/blobs/uploads/?digest="+d, "", blob)
	for _, q := range []string{"?mount=" + d + "&from=secret/app", "?mount=" + d} {
		resp := f.do(t, "POST", "/v2/public/app/blobs/uploads/"+q, "", nil)
		if resp.StatusCode == http.StatusCreated {
			t.Errorf("%s: mounted a blob from a repository the caller cannot read", q)
		}
	}
	if r := f.do(t, "GET", "/v2/public/app/blobs/"+d, "", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("the blob leaked: %d", r.StatusCode)
	}
}

// TestGateDenies: a refusing gate answers DENIED with its reason on GET;
// the gate is told a HEAD apart; blob reads are unaffected.
func TestGateDenies(t *testing.T) {
	f := serve(t, storetestSQLite(t))
	img, _ := random.Image(256, 1)
	ref, _ := name.ParseReference(f.host + "/gate/app:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	f.h.Gate = func(_ context.Context, m *store.Manifest, head bool) error {
		if head {
			return nil // the gate's choice: this one lets HEAD through
		}
		return fmt.Errorf("%s@%s has 2 critical vulnerabilities", m.Repo, m.Digest)
	}
	_, err := remote.Image(ref)
	var te *transport.Error
	if !errors.As(err, &te) || te.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "critical vulnerabilities") || te.Errors[0].Code != transport.DeniedErrorCode {
		t.Errorf("gated pull: %v", err)
	}
	if _, err := remote.Head(ref); err != nil {
		t.Errorf("HEAD: %v", err)
	}
	layers, _ := img.Layers()
	dg, _ := layers[0].Digest()
	if r := f.do(t, "GET", "/v2/gate/app/blobs/"+dg.String(), "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("blob read behind the gate: %d", r.StatusCode)
	}
}

// FuzzPutManifest sends arbitrary manifest bodies and media types: the
// registry answers 201 or a 4xx, never a 5xx or a panic.
func FuzzPutManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), "application/vnd.oci.image.index.v1+json")
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"sha256:x"},"layers":[{}],"subject":{"digest":"sha512:"}}`), "application/vnd.oci.image.manifest.v1+json")
	f.Add([]byte(`[]`), "")
	blobs, err := registry.NewFSBlobs(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	h := &registry.Handler{Store: storetest.Open(f, f.TempDir()+"/bulwark.db"), Blobs: blobs,
		Gate: registry.AllowAllUnsafe, BlobGate: registry.AllowAllBlobsUnsafe, CanRead: registry.AnyoneCanReadUnsafe}
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		req := httptest.NewRequest("PUT", "/v2/fuzz/repo/manifests/latest", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d: %s", rec.Code, rec.Body)
		}
	})
}

// TestNoGateRefusesEverything: a handler built without one of its
// decisions refuses every request, reads and writes alike, instead of
// serving everything: forgetting a field must not open the registry.
func TestNoGateRefusesEverything(t *testing.T) {
	blobs, err := registry.NewFSBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, t.TempDir()+"/bulwark.db")
	full := registry.Handler{Store: st, Blobs: blobs, Gate: registry.AllowAllUnsafe, BlobGate: registry.AllowAllBlobsUnsafe, CanRead: registry.AnyoneCanReadUnsafe}
	srv := httptest.NewServer(&full)
	defer srv.Close()
	img, _ := random.Image(512, 1)
	ref, _ := name.ParseReference(strings.TrimPrefix(srv.URL, "http://") + "/shop/app:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	for _, tc := range []struct {
		name  string
		unset func(h *registry.Handler)
	}{
		{"Gate", func(h *registry.Handler) { h.Gate = nil }},
		{"BlobGate", func(h *registry.Handler) { h.BlobGate = nil }},
		{"CanRead", func(h *registry.Handler) { h.CanRead = nil }},
	} {
		h := full
		tc.unset(&h)
		for _, req := range []struct{ method, path string }{
			{"GET", "/v2/"},
			{"GET", "/v2/shop/app/manifests/1"},
			{"HEAD", "/v2/shop/app/manifests/1"},
			{"GET", "/v2/shop/app/blobs/" + ld.String()},
			{"POST", "/v2/other/app/blobs/uploads/?mount=" + ld.String() + "&from=shop/app"},
			{"GET", "/v2/shop/app/tags/list"},
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(req.method, req.path, nil))
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("without %s: %s %s = %d, want 500 (fail closed)", tc.name, req.method, req.path, rec.Code)
			}
		}
	}
}
