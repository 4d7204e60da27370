package vulndb

import (
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultBaseURL is the public OSV bucket; air-gapped sites point
// --base-url at a mirror with the same <Ecosystem>/all.zip layout.
const DefaultBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// DefaultEcosystems are the feeds `db update` fetches by default: the
// ecosystems bulwark catalogs.
var DefaultEcosystems = []string{"Alpine", "Debian", "Ubuntu", "Red Hat", "Go", "npm", "PyPI", "Maven"}

// DefaultMaxArchive caps one downloaded archive.
const DefaultMaxArchive = 4 << 30

// Updater fetches per-ecosystem all.zip archives and replaces each feed's
// records in one transaction. A download is written to a private file,
// checked (length, the server's MD5 when it sends one, zip structure)
// and only then imported, so a dropped connection or a bad archive leaves
// the database exactly as it was.
type Updater struct {
	DB         *DB
	BaseURL    string
	Ecosystems []string
	Client     *http.Client
	MaxArchive int64
	Logger     *slog.Logger
	Now        func() time.Time
}

// FeedResult says what happened to one feed.
type FeedResult struct {
	Ecosystem string `json:"ecosystem"`
	URL       string `json:"url"`
	// Status is "updated", "unchanged" (304) or "failed".
	Status   string    `json:"status"`
	Imported int       `json:"imported,omitempty"`
	Bytes    int64     `json:"bytes,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// feedMeta is remembered per feed URL for conditional requests.
type feedMeta struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	SHA256       string `json:"sha256"`
	Fetched      string `json:"fetched"`
}

// Update fetches every configured feed. A failed feed does not stop the
// others; the error lists every failure.
func (u *Updater) Update(ctx context.Context) ([]FeedResult, error) {
	var out []FeedResult
	var errs []error
	for _, eco := range u.ecosystems() {
		r := u.updateOne(ctx, eco)
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("%s (%s): %s", eco, r.URL, r.Error))
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

func (u *Updater) ecosystems() []string {
	if len(u.Ecosystems) == 0 {
		return DefaultEcosystems
	}
	return u.Ecosystems
}

func (u *Updater) feedURL(eco string) string {
	base := strings.TrimRight(u.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	return base + "/" + url.PathEscape(eco) + "/all.zip"
}

func (u *Updater) updateOne(ctx context.Context, eco string) FeedResult {
	res := FeedResult{Ecosystem: eco, URL: u.feedURL(eco)}
	fail := func(err error) FeedResult {
		res.Status, res.Error = "failed", err.Error()
		return res
	}
	metaKey := "feed:" + res.URL
	var prev feedMeta
	if s, err := u.DB.Meta(ctx, metaKey); err != nil {
		return fail(err)
	} else if s != "" {
		_ = json.Unmarshal([]byte(s), &prev)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, res.URL, nil)
	if err != nil {
		return fail(err)
	}
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	client := u.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Minute}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		res.Status = "unchanged"
		return res
	case http.StatusOK:
	default:
		return fail(fmt.Errorf("server answered %s", resp.Status))
	}
	max := u.MaxArchive
	if max <= 0 {
		max = DefaultMaxArchive
	}
	if resp.ContentLength > max {
		return fail(fmt.Errorf("archive is %d bytes, over the %d byte limit", resp.ContentLength, max))
	}
	tmp, err := os.CreateTemp(filepath.Dir(u.DB.path), ".feed-*.zip")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	sum, md := sha256.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum, md), io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fail(fmt.Errorf("download interrupted after %d bytes: %w; the database was not changed", n, err))
	}
	if n > max {
		return fail(fmt.Errorf("archive exceeds the %d byte limit", max))
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fail(fmt.Errorf("received %d of %d bytes; the database was not changed", n, resp.ContentLength))
	}
	if err := checkMD5(resp.Header, md); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if zr, err := zip.OpenReader(tmp.Name()); err != nil {
		return fail(fmt.Errorf("not a complete zip archive: %w; the database was not changed", err))
	} else {
		zr.Close()
	}
	res.Bytes, res.SHA256 = n, hex.EncodeToString(sum.Sum(nil))

	w, err := u.DB.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	source := "feed:" + eco
	ir := &ImportResult{}
	err = w.DeleteSource(ctx, source)
	if err == nil {
		err = w.importPaths(ctx, []string{tmp.Name()}, source, ir)
	}
	now := time.Now
	if u.Now != nil {
		now = u.Now
	}
	if err == nil {
		m, _ := json.Marshal(feedMeta{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
			SHA256: res.SHA256, Fetched: now().UTC().Format(time.RFC3339)})
		err = w.SetMeta(ctx, metaKey, string(m))
	}
	if err != nil {
		w.Rollback()
		return fail(err)
	}
	if err := w.Commit(now()); err != nil {
		return fail(err)
	}
	res.Status, res.Imported, res.Problems = "updated", ir.Imported, ir.Problems
	return res
}

// checkMD5 verifies the MD5 a server states (GCS's x-goog-hash or
// Content-MD5), when it states one.
func checkMD5(h http.Header, md hash.Hash) error {
	var want string
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			if b, ok := strings.CutPrefix(strings.TrimSpace(part), "md5="); ok {
				want = b
			}
		}
	}
	if v := h.Get("Content-MD5"); v != "" {
		want = v
	}
	if want == "" {
		return nil
	}
	if got := base64.StdEncoding.EncodeToString(md.Sum(nil)); got != want {
		return fmt.Errorf("checksum mismatch: MD5 %s, the server says %s; the database was not changed", got, want)
	}
	return nil
}
