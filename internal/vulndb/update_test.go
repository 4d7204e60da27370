package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bulwark.dev/bulwark/internal/testenv"
)

// zipOfCorpus builds an osv.dev-style all.zip from the corpus's Go
// records (the first n of them, 0 for all).
func zipOfCorpus(t *testing.T, n int) ([]byte, int) {
	t.Helper()
	files, _ := filepath.Glob(testenv.CorpusPath(t, "osv", "go-vulndb", "GO-*.json"))
	if n > 0 {
		files = files[:n]
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create(filepath.Base(f))
		w.Write(b)
	}
	zw.Close()
	return buf.Bytes(), len(files)
}

// feedServer serves one Go all.zip with an ETag; mode changes how.
type feedServer struct {
	body atomic.Pointer[[]byte]
	mode atomic.Value // "", "drop", "badmd5", "truncated-zip"
	hits atomic.Int32
}

func (s *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if r.URL.Path != "/Go/all.zip" {
		http.NotFound(w, r)
		return
	}
	body := *s.body.Load()
	etag := fmt.Sprintf(`"%x"`, md5.Sum(body))
	mode, _ := s.mode.Load().(string)
	if r.Header.Get("If-None-Match") == etag && mode == "" {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	sum := md5.Sum(body)
	w.Header().Set("ETag", etag)
	w.Header().Set("X-Goog-Hash", "crc32c=AAAAAA==,md5="+base64.StdEncoding.EncodeToString(sum[:]))
	switch mode {
	case "drop":
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
		return
	case "badmd5":
		w.Header().Set("X-Goog-Hash", "md5="+base64.StdEncoding.EncodeToString(make([]byte, 16)))
	case "truncated-zip":
		body = body[:len(body)-100]
		w.Header().Del("X-Goog-Hash")
	}
	w.Write(body)
}

var testNow = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

func TestUpdate(t *testing.T) {
	all, nAll := zipOfCorpus(t, 0)
	some, nSome := zipOfCorpus(t, 1000)
	srv := &feedServer{}
	srv.body.Store(&all)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	db := openTemp(t)
	u := &Updater{DB: db, BaseURL: hs.URL, Ecosystems: []string{"Go"}}
	ctx := context.Background()
	count := func() int {
		st, err := db.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Records
	}

	res, err := u.Update(ctx)
	if err != nil || res[0].Status != "updated" || res[0].Imported != nAll || count() != nAll {
		t.Fatalf("first update: %+v %v, %d records", res, err, count())
	}
	// Unchanged feed: a conditional request, nothing imported.
	res, err = u.Update(ctx)
	if err != nil || res[0].Status != "unchanged" {
		t.Fatalf("second update: %+v %v", res, err)
	}
	// Records gone upstream are gone after an update.
	srv.body.Store(&some)
	if res, err = u.Update(ctx); err != nil || res[0].Status != "updated" || count() != nSome {
		t.Fatalf("shrunk feed: %+v %v, %d records", res, err, count())
	}
	// Failures leave the previous database fully usable.
	srv.body.Store(&all)
	for mode, msg := range map[string]string{
		"drop":          "the database was not changed",
		"badmd5":        "checksum mismatch",
		"truncated-zip": "not a complete zip",
	} {
		srv.mode.Store(mode)
		res, err := u.Update(ctx)
		if err == nil || res[0].Status != "failed" || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %+v %v", mode, res, err)
		}
		if got := count(); got != nSome {
			t.Errorf("%s: %d records after a failed update, want %d", mode, got, nSome)
		}
		if vs, err := db.Query(ctx, "Go", "golang.org/x/text"); err != nil {
			t.Errorf("%s: query after failure: %v (%d)", mode, err, len(vs))
		}
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(db.path), ".feed-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	srv.mode.Store("")
	if res, err := u.Update(ctx); err != nil || res[0].Status != "updated" || count() != nAll {
		t.Errorf("recovery: %+v %v", res, err)
	}
	// A missing feed is an error naming it; the others still run.
	u.Ecosystems = []string{"Nope", "Go"}
	res, err = u.Update(ctx)
	if err == nil || !strings.Contains(err.Error(), "Nope") || res[1].Status != "unchanged" {
		t.Errorf("missing feed: %+v %v", res, err)
	}
}

func TestBundle(t *testing.T) {
	ctx := context.Background()
	src := openTemp(t)
	if _, err := src.Import(ctx, []string{testenv.CorpusPath(t, "osv", "go-vulndb")}, testNow); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "advisories.tar")
	if err := src.Export(ctx, bundle, testNow); err != nil {
		t.Fatal(err)
	}
	if !IsBundle(bundle) {
		t.Fatal("not recognized as a bundle")
	}
	dst := filepath.Join(t.TempDir(), "site", "vuln.db")
	n, err := ImportBundle(bundle, dst)
	if err != nil || n < 4000 {
		t.Fatalf("import: %d, %v", n, err)
	}
	db, err := Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := db.Query(ctx, "Go", "golang.org/x/text")
	db.Close()
	if err != nil || len(vs) == 0 {
		t.Fatalf("query the imported bundle: %d, %v", len(vs), err)
	}
	// A flipped byte in the database is caught by the manifest sum, and
	// the installed database stays as it was.
	b, _ := os.ReadFile(bundle)
	i := bytes.LastIndex(b, []byte("golang.org/x/text"))
	b[i] ^= 0x20
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, b, 0o644)
	if _, err := ImportBundle(bad, dst); err == nil || !strings.Contains(err.Error(), "corrupt or was altered") {
		t.Errorf("tampered bundle: %v", err)
	}
	db, _ = Open(dst)
	st, _ := db.Status(ctx)
	db.Close()
	if st.Records != n {
		t.Errorf("database changed by a refused bundle: %d records", st.Records)
	}
}
