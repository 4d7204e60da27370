package cli

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"bulwark.dev/bulwark/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// bulwarkBinary builds the real binary once per test run: the crash tests
// kill it with SIGKILL.
func bulwarkBinary(t *testing.T) string {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "bulwark")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/bulwark")
		cmd.Dir = testenv.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

const servePW = "crash-test-admin"

type served struct {
	cmd  *exec.Cmd
	host string
	log  *lockedBuffer
}

// lockedBuffer is the server's stderr, written by the process's pipe
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingRE = regexp.MustCompile(`bulwark serving on https?://(\S+) `)

// startServe runs `bulwark serve` over dataDir on addr, or on a port the
// kernel picks (the server prints it: a port found free and closed
// before the server listens could be taken by another test meanwhile).
func startServe(t *testing.T, dataDir, addr string, extra ...string) *served {
	t.Helper()
	listen := addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	s := &served{host: addr, log: &lockedBuffer{}}
	s.cmd = exec.Command(bulwarkBinary(t), append([]string{"serve", "--addr", listen, "--data", dataDir}, extra...)...)
	s.cmd.Env = append(os.Environ(), "BULWARK_ADMIN_PASSWORD="+servePW)
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	probe, scheme := http.DefaultClient, "http"
	if slices.Contains(extra, "--tls-generate") {
		// Readiness only: whether it listens, not whom it is.
		probe = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // readiness probe
		scheme = "https"
	}
	for i := 0; i < 200; i++ {
		if s.host == "" {
			if m := servingRE.FindStringSubmatch(s.log.String()); m != nil {
				s.host = m[1]
			}
		}
		if s.host != "" {
			if resp, err := probe.Get(scheme + "://" + s.host + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return s
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("bulwark serve did not become ready:\n%s", s.log)
	return nil
}

func (s *served) kill9(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
}

var adminAuth = remote.WithAuth(&authn.Basic{Username: "admin", Password: servePW})

func pullWhole(t *testing.T, ref name.Reference) v1.Hash {
	t.Helper()
	img, err := remote.Image(ref, adminAuth)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	testenv.ReadLayers(t, img)
	d, _ := img.Digest()
	return d
}

// TestKill9DuringPush: the server is killed (SIGKILL) in the middle of a
// blob upload. After a restart, what was committed is intact (an image
// pushed before, the audit trail), the interrupted upload left no blob
// behind, and pushing works.
func TestKill9DuringPush(t *testing.T) {
	data := t.TempDir()
	allow := filepath.Join(t.TempDir(), "allow.yaml")
	os.WriteFile(allow, []byte("pullPolicy:\n  blockSeverity: none\n  unscanned: allow\n"), 0o644)
	s := startServe(t, data, "", "--config", allow, "--db", filepath.Join(t.TempDir(), "none.db"))
	if !strings.Contains(s.log.String(), "no vulnerability database") {
		t.Errorf("no warning about the missing vulnerability database:\n%s", s.log)
	}
	before, _ := random.Image(1<<20, 3)
	refA, _ := name.ParseReference(s.host + "/shop/a:1")
	if err := remote.Write(refA, before, adminAuth); err != nil {
		t.Fatal(err)
	}
	wantA, _ := before.Digest()

	// A 32 MiB blob, streamed slowly; the server dies mid-stream.
	req, _ := http.NewRequest("POST", "http://"+s.host+"/v2/shop/b/blobs/uploads/", nil)
	req.SetBasicAuth("admin", servePW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("start upload: %v %v", err, resp)
	}
	loc := resp.Header.Get("Location")
	pr, pw := io.Pipe()
	patch, _ := http.NewRequest("PATCH", "http://"+s.host+loc, pr)
	patch.SetBasicAuth("admin", servePW)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(patch)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < 8; i++ {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	s.kill9(t)
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil {
		t.Error("the interrupted upload reported success")
	}

	s = startServe(t, data, s.host, "--config", allow)
	if got := pullWhole(t, refA); got != wantA {
		t.Errorf("after the crash %s is %s, want %s", refA, got, wantA)
	}
	// No blob of the interrupted upload was committed.
	var blobs []string
	filepath.Walk(filepath.Join(data, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			blobs = append(blobs, p)
		}
		return nil
	})
	layers, _ := before.Layers()
	if len(blobs) != len(layers)+1 {
		t.Errorf("%d blob files after the crash, want the %d of the image pushed before", len(blobs), len(layers)+1)
	}
	after, _ := random.Image(1<<20, 2)
	refB, _ := name.ParseReference(s.host + "/shop/b:1")
	if err := remote.Write(refB, after, adminAuth); err != nil {
		t.Fatalf("push after the restart: %v", err)
	}
	pullWhole(t, refB)
	s.kill9(t)
	// Committed audit records survived the kills, and the chain holds
	// (a kill leaves the trail without a final checkpoint, not broken).
	code, out, errOut := run(t, nil, "audit", "verify", "--data", data)
	if code != 0 {
		t.Errorf("audit after two kills: %d %s %s", code, out, errOut)
	}
}

// TestKill9DuringScan: the server is killed while it scans an image.
// After a restart the job is taken again once its lease lapses, and the
// result arrives.
func TestKill9DuringScan(t *testing.T) {
	vdb := importDB(t, testenv.CorpusPath(t, "osv", "go-vulndb"))
	idx, err := layout.ImageIndexFromPath(filepath.Join(testenv.DebianImage(t), "oci"))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	args := []string{"--db", vdb, "--scan-lease", "3s"}
	s := startServe(t, data, "", args...)
	ref, _ := name.ParseReference(s.host + "/base/debian:12")
	if err := remote.Write(ref, img, adminAuth); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	scanURL := "http://" + s.host + "/api/v1/scans/" + d.String()
	state := func() (int, string) {
		req, _ := http.NewRequest("GET", scanURL, nil)
		req.SetBasicAuth("admin", servePW)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		var body struct {
			State string `json:"state"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.State
	}
	caught := false
	for i := 0; i < 3000 && !caught; i++ {
		code, st := state()
		if code == 200 {
			t.Fatal("the scan finished before the test could kill the server mid-scan")
		}
		caught = st == "running"
		if !caught {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !caught {
		t.Fatal("the scan never started")
	}
	s.kill9(t)
	s = startServe(t, data, s.host, args...)
	for i := 0; i < 1200; i++ {
		if code, _ := state(); code == 200 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no scan result after the restart:\n%s", s.log)
}

// TestServeTLS: with a generated CA the server speaks only HTTPS; a
// client trusting the CA pushes and pulls; a restart keeps the CA.
func TestServeTLS(t *testing.T) {
	data := t.TempDir()
	allow := filepath.Join(t.TempDir(), "allow.yaml")
	os.WriteFile(allow, []byte("pullPolicy:\n  blockSeverity: none\n  unscanned: allow\n"), 0o644)
	s := startServe(t, data, "", "--config", allow, "--tls-generate")
	caPEM, err := os.ReadFile(filepath.Join(data, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	ref, _ := name.ParseReference(s.host + "/shop/tls:1")
	img, _ := random.Image(512, 1)
	if err := remote.Write(ref, img, adminAuth, remote.WithTransport(tr)); err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	if _, err := remote.Image(ref, adminAuth, remote.WithTransport(tr)); err != nil {
		t.Fatalf("pull over TLS: %v", err)
	}
	if resp, err := http.Get("http://" + s.host + "/v2/"); err == nil && resp.StatusCode < 400 {
		t.Errorf("plain HTTP answered %d", resp.StatusCode)
	}
	if _, err := remote.Image(ref, adminAuth); err == nil {
		t.Error("a client without the CA pulled")
	}
	s.kill9(t)
	startServe(t, data, s.host, "--config", allow, "--tls-generate")
	again, _ := os.ReadFile(filepath.Join(data, "tls", "ca.crt"))
	if !bytes.Equal(caPEM, again) {
		t.Error("a restart replaced the CA")
	}
}

// TestServeOnABusyPort fails before initialising anything: no data
// directory, no administrator, no password printed.
func TestServeOnABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	code, _, errOut := run(t, nil, "serve", "--addr", ln.Addr().String(), "--data", data)
	if code != ExitError || !strings.Contains(errOut, "address already in use") || strings.Contains(errOut, "password") || strings.Contains(errOut, "database is closed") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("the data directory was created")
	}
	// So does an administrator password the server would refuse.
	code, _, errOut = run(t, map[string]string{"BULWARK_ADMIN_PASSWORD": "short"}, "serve", "--addr", "127.0.0.1:0", "--data", data)
	if code != ExitError || !strings.Contains(errOut, "BULWARK_ADMIN_PASSWORD: a password needs at least 8 characters") {
		t.Errorf("a short password: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("the data directory was created for a short password")
	}
}
