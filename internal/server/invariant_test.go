package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
)

// TestNoRouteServesARefusedImage attacks the pull gate's invariant from
// every route (docs/serve.md): no byte of a refused image, its config or
// a layer, reaches a caller who may not pull it, whether asked by tag,
// digest, HEAD, through an index, a relabelled manifest, an artifact or
// an index naming its blobs, the referrers API, a cross-repository or
// anonymous mount, within the project, or on a second replica; and every
// manifest that references runnable content is scanned and gated. The
// approved image next to it stays pullable.
func TestNoRouteServesARefusedImage(t *testing.T) {
	vdb := goVulnDB(t)
	bad := testenv.VulnerableGoImage(t) // GO-2021-0113, unknown severity: counted HIGH
	good, _ := random.Image(512, 1)
	storetest.Each(t, func(t *testing.T, dsn string) {
		data := t.TempDir()
		newServer := func() *testServer {
			s, err := New(context.Background(), Config{DataDir: data, Database: dsn, AdminPassword: adminPW, VulnDB: vdb,
				DefaultPolicy: `{"blockSeverity":"high","unscanned":"block"}`})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			s.jobs.Poll = 50 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			s.Start(ctx)
			return serveHTTP(t, s)
		}
		ts := newServer()
		ts.user(t, "mallory", "mallory-password", "shop", "guest") // may pull shop, push nothing there
		if err := ts.store.SetMember(context.Background(), "lab", "mallory", "developer"); err != nil {
			t.Fatal(err)
		}
		ts.user(t, "dana", "dana-password", "shop", "developer") // may push to shop
		admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
		badRef, _ := name.ParseReference(ts.host + "/shop/app:bad")
		goodRef, _ := name.ParseReference(ts.host + "/shop/app:good")
		if err := remote.Write(badRef, bad, admin); err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(goodRef, good, admin); err != nil {
			t.Fatal(err)
		}
		badDigest, _ := bad.Digest()
		goodDigest, _ := good.Digest()
		waitScanned(t, ts.store, badDigest.String())
		waitScanned(t, ts.store, goodDigest.String())
		rawManifest, _ := bad.RawManifest()
		cfgDigest, _ := bad.ConfigName()
		layers, _ := bad.Layers()
		layerDigest, _ := layers[0].Digest()
		layerBytes, _ := io.ReadAll(must(layers[0].Compressed()))
		cfgBytes, _ := bad.RawConfigFile()
		secret := [][]byte{layerBytes, cfgBytes}

		do := func(ts *testServer, user, pw, method, path string, body []byte, header ...string) (int, []byte, http.Header) {
			req, _ := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
			if user != "" {
				req.SetBasicAuth(user, pw)
			}
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b, resp.Header
		}
		const accept = "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.index.v1+json"
		pushManifest := func(user, pw, repo, tag, mediaType string, body []byte) int {
			code, _, _ := do(ts, user, pw, "PUT", "/v2/"+repo+"/manifests/"+tag, body, "Content-Type", mediaType)
			return code
		}

		// A relabelled manifest: the same image, with an artifactType.
		var relabel map[string]any
		json.Unmarshal(rawManifest, &relabel)
		relabel["artifactType"] = "application/vnd.example.not-an-image+json"
		relabelled, _ := json.Marshal(relabel)
		mt := string(must(bad.MediaType()))
		if code := pushManifest("dana", "dana-password", "shop/app", "relabel", mt, relabelled); code != 201 {
			t.Fatalf("push relabelled: %d", code)
		}
		relabelDigest := sha256Digest(relabelled)
		waitScanned(t, ts.store, relabelDigest) // scanned like any image

		// An artifact (another config type) naming the refused layer.
		artifact, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
			"artifactType": "application/vnd.example+json",
			"config":       map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": cfgDigest.String(), "size": len(cfgBytes)},
			"layers":       []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layerDigest.String(), "size": len(layerBytes)}}})
		if code := pushManifest("dana", "dana-password", "shop/app", "artifact", "application/vnd.oci.image.manifest.v1+json", artifact); code != 201 {
			t.Fatalf("push artifact: %d", code)
		}

		// An index naming the refused blobs as its "manifests" is refused;
		// an index of the refused manifest is accepted (its child is gated).
		blobIndex, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
			"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": layerDigest.String(), "size": len(layerBytes)},
				map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": cfgDigest.String(), "size": len(cfgBytes)}}})
		if code := pushManifest("dana", "dana-password", "shop/app", "blobindex", "application/vnd.oci.image.index.v1+json", blobIndex); code != 400 {
			t.Errorf("an index naming blobs as manifests was accepted: %d", code)
		}
		index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
			"manifests": []any{map[string]any{"mediaType": mt, "digest": badDigest.String(), "size": len(rawManifest), "platform": map[string]string{"os": "linux", "architecture": "amd64"}}}})
		if code := pushManifest("dana", "dana-password", "shop/app", "index", "application/vnd.oci.image.index.v1+json", index); code != 201 {
			t.Fatalf("push index: %d", code)
		}

		replica := newServer()
		type route struct {
			name, user, pw, method, path string
			header                       []string
			// after runs a follow-up read whose answer must not leak.
			after string
		}
		const mal, malPW = "mallory", "mallory-password"
		routes := []route{
			{name: "tag", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/manifests/bad", header: []string{"Accept", accept}},
			{name: "digest", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/manifests/" + badDigest.String(), header: []string{"Accept", accept}},
			{name: "HEAD", user: mal, pw: malPW, method: "HEAD", path: "/v2/shop/app/manifests/bad", header: []string{"Accept", accept}},
			{name: "layer blob", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/blobs/" + layerDigest.String()},
			{name: "config blob", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/blobs/" + cfgDigest.String()},
			{name: "index child", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/manifests/index", header: []string{"Accept", accept},
				after: "/v2/shop/app/manifests/" + badDigest.String()},
			{name: "relabelled manifest", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/manifests/relabel", header: []string{"Accept", accept}},
			{name: "artifact naming the layer", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/manifests/artifact", header: []string{"Accept", accept},
				after: "/v2/shop/app/blobs/" + layerDigest.String()},
			{name: "referrers", user: mal, pw: malPW, method: "GET", path: "/v2/shop/app/referrers/" + badDigest.String()},
			{name: "mount from shop", user: mal, pw: malPW, method: "POST", path: "/v2/lab/scratch/blobs/uploads/?mount=" + layerDigest.String() + "&from=shop/app",
				after: "/v2/lab/scratch/blobs/" + layerDigest.String()},
			{name: "anonymous mount", user: mal, pw: malPW, method: "POST", path: "/v2/lab/scratch/blobs/uploads/?mount=" + cfgDigest.String(),
				after: "/v2/lab/scratch/blobs/" + cfgDigest.String()},
			{name: "mount within the project", user: "dana", pw: "dana-password", method: "POST", path: "/v2/shop/copy/blobs/uploads/?mount=" + layerDigest.String() + "&from=shop/app",
				after: "/v2/shop/copy/blobs/" + layerDigest.String()},
			{name: "anonymous caller", method: "GET", path: "/v2/shop/app/blobs/" + layerDigest.String()},
		}
		leaks := func(b []byte) bool {
			for _, s := range secret {
				if len(b) > 0 && bytes.Contains(b, s) {
					return true
				}
			}
			return false
		}
		for _, srv := range []struct {
			name string
			ts   *testServer
		}{{"replica 1", ts}, {"replica 2", replica}} {
			for _, rt := range routes {
				t.Run(srv.name+"/"+rt.name, func(t *testing.T) {
					code, body, hdr := do(srv.ts, rt.user, rt.pw, rt.method, rt.path, nil, rt.header...)
					if leaks(body) {
						t.Fatalf("%s %s (%d) returned the refused image's bytes", rt.method, rt.path, code)
					}
					switch rt.name {
					case "index child", "artifact naming the layer", "referrers":
						if code != 200 {
							t.Errorf("%s: %d, want 200 (it holds no refused bytes)", rt.name, code)
						}
					case "mount from shop", "anonymous mount", "mount within the project":
						if code == 201 {
							t.Errorf("mount accepted (%d, %s)", code, hdr.Get("Location"))
						}
						if code == 202 { // the spec's fallback: an upload session
							do(srv.ts, rt.user, rt.pw, "DELETE", hdr.Get("Location"), nil)
						}
					case "anonymous caller":
						if code != 401 {
							t.Errorf("anonymous: %d, want 401", code)
						}
					default:
						if code != 403 {
							t.Errorf("%d, want 403 DENIED: %s", code, body)
						}
					}
					if rt.after != "" {
						code, body, _ := do(srv.ts, rt.user, rt.pw, "GET", rt.after, nil, "Accept", accept)
						if leaks(body) || code == 200 && strings.Contains(rt.after, "/blobs/") {
							t.Errorf("then GET %s: %d and the refused bytes", rt.after, code)
						}
						if strings.Contains(rt.after, "/manifests/") && code != 403 {
							t.Errorf("then GET %s: %d, want 403", rt.after, code)
						}
					}
				})
			}
			// The approved image is served whole to the same caller.
			r, _ := name.ParseReference(srv.ts.host + "/shop/app:good")
			img, err := remote.Image(r, remote.WithAuth(&authn.Basic{Username: mal, Password: malPW}))
			if err != nil {
				t.Fatalf("%s: the approved image: %v", srv.name, err)
			}
			testenv.ReadLayers(t, img)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func sha256Digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}
