package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sigstore/sigstore/pkg/signature"

	"archive/tar"
	"bulwark.dev/bulwark/internal/policy"
	"bulwark.dev/bulwark/internal/scan"
	"bulwark.dev/bulwark/internal/scanner"
	"bulwark.dev/bulwark/internal/sign"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/store/storetest"
	"bulwark.dev/bulwark/internal/testenv"
	"bulwark.dev/bulwark/internal/vulndb"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"io"
	"os"
	"strconv"
)

// goVulnDB imports the corpus's Go vulnerability database.
func goVulnDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vuln.db")
	db, err := vulndb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Import(context.Background(), []string{testenv.CorpusPath(t, "osv", "go-vulndb")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return path
}

func startScanning(t *testing.T, dsn, vulnDB string) *testServer {
	t.Helper()
	s, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: dsn, AdminPassword: adminPW, VulnDB: vulnDB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.jobs.Poll = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.Start(ctx)
	ts := serveHTTP(t, s)
	return ts
}

func deniedBecause(err error) string {
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == 403 && len(te.Errors) > 0 && te.Errors[0].Code == transport.DeniedErrorCode {
		return te.Errors[0].Message
	}
	return ""
}

// waitScanned waits for the scan of digest to be stored.
func waitScanned(t *testing.T, st *store.Store, digest string) *store.Scan {
	t.Helper()
	for i := 0; i < 600; i++ {
		if sc, err := st.GetScan(context.Background(), digest); err == nil {
			return sc
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s was never scanned", digest)
	return nil
}

// TestPullGate: a vulnerable image is scanned on push and refused on pull
// with a DENIED message naming the vulnerability and the fix; an
// exception in the project's policy lets it through; an unsigned image
// is refused where a signature is required and served once signed; the
// gate stays open for an approved digest while it is rescanned.
func TestPullGate(t *testing.T) {
	vdb := goVulnDB(t)
	img := testenv.VulnerableGoImage(t)
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := startScanning(t, dsn, vdb)
		ctx := context.Background()
		admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
		ref, _ := name.ParseReference(ts.host + "/shop/api:1")
		setPolicy := func(p policy.PullPolicy) {
			b, _ := json.Marshal(p)
			if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/shop/policy", string(b)); code != 200 {
				t.Fatalf("set policy: %d %v", code, body)
			}
		}
		// The Go database rates nothing: "unknown" blocks every finding.
		setPolicy(policy.PullPolicy{BlockSeverity: "unknown", Unscanned: "block"})
		if err := remote.Write(ref, img, admin); err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		sc := waitScanned(t, ts.store, d.String())
		if sc.Unknown+sc.Low+sc.Medium+sc.High+sc.Critical < 2 || !strings.Contains(sc.Findings, "GO-2021-0113") {
			t.Fatalf("scan: %+v", sc)
		}
		_, err := remote.Image(ref, admin)
		msg := deniedBecause(err)
		for _, want := range []string{"GO-2021-0113", "golang.org/x/text", "fixed in", "add an exception"} {
			if !strings.Contains(msg, want) {
				t.Errorf("denial %q lacks %q (err %v)", msg, want, err)
			}
		}
		// Its layer is refused too, to a reader who knows its digest.
		layers, _ := img.Layers()
		layer, _ := layers[0].Digest()
		blobStatus := func() int {
			req, _ := http.NewRequest("GET", ts.url+"/v2/shop/api/blobs/"+layer.String(), nil)
			req.SetBasicAuth("reader", "reader-password")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		ts.call(t, "admin", adminPW, "POST", "/api/v1/users", `{"name":"reader","password":"reader-password"}`)
		ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/shop/members/reader", `{"role":"guest"}`)
		if code := blobStatus(); code != http.StatusForbidden {
			t.Errorf("layer of a refused image: %d", code)
		}
		// An exception for it: served.
		var exceptions []policy.IgnoreEntry
		for _, id := range []string{"GO-2021-0113", "GO-2022-1059", "GO-2026-5970"} {
			exceptions = append(exceptions, policy.IgnoreEntry{ID: id, Reason: "not reachable: language tags come from our own config"})
		}
		setPolicy(policy.PullPolicy{BlockSeverity: "unknown", Unscanned: "block", Exceptions: exceptions})
		if _, err := remote.Image(ref, admin); err != nil {
			if m := deniedBecause(err); m != "" {
				t.Fatalf("denied despite exceptions: %s", m)
			}
			t.Fatal(err)
		}
		if code := blobStatus(); code != http.StatusOK {
			t.Errorf("layer of an accepted image: %d", code)
		}
		// A rescan is running (queued): the approved digest stays pullable.
		if err := ts.scanner.Enqueue(ctx, "shop/api", d.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := remote.Image(ref, admin); err != nil {
			t.Errorf("pull during a rescan: %v", err)
		}
		// A signature is required: unsigned is refused, signed is served.
		pub, signer := testenv.SigningKey(t)
		p := policy.PullPolicy{BlockSeverity: "none", Unscanned: "block", RequireSignature: true, Keys: []string{string(pub)}}
		setPolicy(p)
		_, err = remote.Image(ref, admin)
		if msg := deniedBecause(err); !strings.Contains(msg, "not signed") || !strings.Contains(msg, "bulwark sign") {
			t.Errorf("unsigned: %q (%v)", msg, err)
		}
		if _, err := sign.Sign(ctx, ref, signer, nil, admin); err != nil {
			t.Fatal(err)
		}
		ts.gate.invalidate()
		if _, err := remote.Image(ref, admin); err != nil {
			t.Errorf("signed image refused: %v", err)
		}
		// The signature itself is not gated (cosign must read it).
		if _, err := sign.Verify(ctx, ref, mustVerifier(t, pub), admin); err != nil {
			t.Errorf("verify through the registry: %v", err)
		}
	})
}

// TestUnscannedBlocked: with no vulnerability database nothing can be
// scanned; the default policy refuses the new digest and says why.
func TestUnscannedBlocked(t *testing.T) {
	ts := startScanning(t, filepath.Join(t.TempDir(), "bulwark.db"), filepath.Join(t.TempDir(), "missing.db"))
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
	ref, _ := name.ParseReference(ts.host + "/team/app:1")
	if err := remote.Write(ref, testenv.VulnerableGoImage(t), admin); err != nil {
		t.Fatal(err)
	}
	_, err := remote.Image(ref, admin)
	if msg := deniedBecause(err); !strings.Contains(msg, "has not been scanned yet") {
		t.Errorf("unscanned: %q (%v)", msg, err)
	}
}

func mustVerifier(t *testing.T, pub []byte) []signature.Verifier {
	v, err := sign.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return []signature.Verifier{v}
}

// TestScanCoverageAndUnknownSeverity: scan on push stores what the scan
// could not judge (alpine 3.10 against Alpine 3.18-3.20 advisories), the
// API shows it, and the pull policy acts on it (unmatched: block refuses,
// the default warn serves). Findings of unknown severity (the Go
// database rates nothing) count as HIGH by default, and the denial says
// their severity was unknown.
func TestScanCoverageAndUnknownSeverity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vuln.db")
	db, err := vulndb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(context.Background(), []string{testenv.CorpusPath(t, "secdb", "alpine"), testenv.CorpusPath(t, "osv", "go-vulndb")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	alpine, goImg := testenv.AlpineImage(t), testenv.VulnerableGoImage(t)
	storetest.Each(t, func(t *testing.T, dsn string) {
		ts := startScanning(t, dsn, path)
		admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
		setPolicy := func(project, p string) {
			if code, body := ts.call(t, "admin", adminPW, "PUT", "/api/v1/projects/"+project+"/policy", p); code != 200 {
				t.Fatalf("set policy: %d %v", code, body)
			}
		}
		ref, _ := name.ParseReference(ts.host + "/base/alpine:3.10")
		if err := remote.Write(ref, alpine, admin); err != nil {
			t.Fatal(err)
		}
		d, _ := alpine.Digest()
		sc := waitScanned(t, ts.store, d.String())
		if !strings.Contains(sc.OS, `"eolPassed":true`) || !strings.Contains(sc.Coverage, `"no-advisories"`) || !strings.Contains(sc.Warnings, "no advisories for alpine 3.10") {
			t.Errorf("stored scan lacks OS, coverage or warnings: os %s coverage %s warnings %s", sc.OS, sc.Coverage, sc.Warnings)
		}
		code, body := ts.call(t, "admin", adminPW, "GET", "/api/v1/scans/"+d.String(), "")
		if b, _ := json.Marshal(body); code != 200 || !strings.Contains(string(b), "no-advisories") || !strings.Contains(string(b), "end of life") {
			t.Errorf("scans API: %d %s", code, b)
		}
		if _, err := remote.Image(ref, admin); err != nil {
			t.Errorf("unmatched: warn (the default) refused the image: %v", err)
		}
		setPolicy("base", `{"unmatched":"block"}`)
		_, err := remote.Image(ref, admin)
		if msg := deniedBecause(err); !strings.Contains(msg, "could not be judged") || !strings.Contains(msg, "alpine 3.10") {
			t.Errorf("unmatched: block: %v", err)
		}

		gref, _ := name.ParseReference(ts.host + "/apps/go:1")
		if err := remote.Write(gref, goImg, admin); err != nil {
			t.Fatal(err)
		}
		gd, _ := goImg.Digest()
		waitScanned(t, ts.store, gd.String())
		if _, err := remote.Image(gref, admin); err != nil {
			t.Errorf("default policy (block critical) refused unknowns counted as high: %v", err)
		}
		setPolicy("apps", `{"blockSeverity":"high"}`)
		_, err = remote.Image(gref, admin)
		if msg := deniedBecause(err); !strings.Contains(msg, "severity unknown, counted as HIGH") {
			t.Errorf("blockSeverity high: %v", err)
		}
		setPolicy("apps", `{"blockSeverity":"high","unknownSeverity":"low"}`)
		if _, err := remote.Image(gref, admin); err != nil {
			t.Errorf("unknownSeverity low: %v", err)
		}
		// The same pass stored the hygiene checks and the file index,
		// executables with their hash, and the policy can require checks.
		raw, err := ts.store.ScanFiles(context.Background(), gd.String())
		if err != nil {
			t.Fatal(err)
		}
		files, err := scanner.DecodeFiles(raw)
		if err != nil {
			t.Fatal(err)
		}
		var app *scan.FileEntry
		for i := range files {
			if files[i].Path == "usr/local/bin/app" {
				app = &files[i]
			}
		}
		layers, _ := goImg.Layers()
		rc, _ := layers[0].Uncompressed()
		tr := tar.NewReader(rc)
		tr.Next()
		sum := sha256.New()
		io.Copy(sum, tr)
		rc.Close()
		if app == nil || app.SHA256 != hex.EncodeToString(sum.Sum(nil)) || app.Layer != 0 {
			t.Errorf("file index entry of the binary: %+v", app)
		}
		setPolicy("apps", `{"blockSeverity":"none","requiredChecks":["BW-IMG-001"]}`)
		_, err = remote.Image(gref, admin)
		if msg := deniedBecause(err); !strings.Contains(msg, "BW-IMG-001") {
			t.Errorf("requiredChecks BW-IMG-001 on an image running as root: %v", err)
		}
	})
}

// TestHostileImagesCannotStallScanning: an image holding the fuzzer's
// BerkeleyDB file that hung go-rpmdb's walk is scanned (the file becomes
// a status), and an ordinary image pushed after it is scanned too; a
// scan past its deadline fails visibly instead of holding its worker.
func TestHostileImagesCannotStallScanning(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "internal", "inventory", "rpm", "testdata", "fuzz", "FuzzParseFile", "24c8f56985eaa75c"))
	if err != nil {
		t.Fatal(err)
	}
	_, lit, _ := strings.Cut(string(b), "\n")
	content, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(lit), "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "var/lib/rpm/Packages", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	hostile, _ := mutate.AppendLayers(empty.Image, layer)
	ordinary, _ := random.Image(512, 1)
	ts := startScanning(t, filepath.Join(t.TempDir(), "b.db"), goVulnDB(t))
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
	for tag, img := range map[string]v1.Image{"hostile": hostile, "ordinary": ordinary} {
		r, _ := name.ParseReference(ts.host + "/shop/app:" + tag)
		if err := remote.Write(r, img, admin); err != nil {
			t.Fatal(err)
		}
	}
	hd, _ := hostile.Digest()
	od, _ := ordinary.Digest()
	waitScanned(t, ts.store, od.String())
	if sc := waitScanned(t, ts.store, hd.String()); sc == nil {
		t.Fatal("the hostile image was not scanned")
	}

	// A deadline every scan misses: the job fails, visibly, at once.
	srv, err := New(context.Background(), Config{DataDir: t.TempDir(), Database: filepath.Join(t.TempDir(), "b.db"), AdminPassword: adminPW, VulnDB: goVulnDB(t), ScanTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.jobs.Poll = 50 * time.Millisecond
	sctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv.Start(sctx)
	ts = serveHTTP(t, srv)
	late, _ := random.Image(512, 1)
	r, _ := name.ParseReference(ts.host + "/shop/app:late")
	if err := remote.Write(r, late, admin); err != nil {
		t.Fatal(err)
	}
	ld, _ := late.Digest()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := ts.call(t, "admin", adminPW, "GET", "/api/v1/scans/"+ld.String(), "")
		if code == 202 && body["state"] == "failed" {
			if e, _ := body["error"].(string); !strings.Contains(e, "deadline") {
				t.Errorf("failed scan error %q", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late scan never failed: %d %v", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = remote.Image(r, admin)
	if msg := deniedBecause(err); !strings.Contains(msg, "its scan failed") {
		t.Errorf("denial of a scan past its deadline: %v", err)
	}
}

// TestTransientFailuresAreNotVerdicts: a decision the store could not
// make (here: the caller's context is gone) refuses that request with an
// error that still says why (errors.Is matches), and is not cached: the
// next caller gets the real verdict at once.
func TestTransientFailuresAreNotVerdicts(t *testing.T) {
	ts := startScanning(t, filepath.Join(t.TempDir(), "b.db"), goVulnDB(t))
	admin := remote.WithAuth(&authn.Basic{Username: "admin", Password: adminPW})
	img, _ := random.Image(512, 1)
	r, _ := name.ParseReference(ts.host + "/shop/app:1")
	if err := remote.Write(r, img, admin); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	waitScanned(t, ts.store, d.String())
	m, err := ts.store.GetManifest(context.Background(), "shop/app", d.String())
	if err != nil {
		t.Fatal(err)
	}
	ts.gate.invalidate()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	err = ts.gate.decision(gone, m)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "try again") {
		t.Fatalf("decision with a cancelled context: %v, want a refusal wrapping context.Canceled", err)
	}
	if err := ts.gate.decision(context.Background(), m); err != nil {
		t.Errorf("the transient failure was cached as a verdict: %v", err)
	}
}
