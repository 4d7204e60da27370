// Package scanner scans what is pushed to bulwark's registry: a worker
// takes scan jobs from the store's queue, inventories the stored image
// and matches it against the vulnerability database, and stores the
// findings per digest. It also requeues every stored image when the
// vulnerability database changes.
package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/inventory/catalog"
	"bulwark.dev/bulwark/internal/jobs"
	"bulwark.dev/bulwark/internal/match"
	"bulwark.dev/bulwark/internal/registry"
	"bulwark.dev/bulwark/internal/sbom"
	"bulwark.dev/bulwark/internal/scan"
	"bulwark.dev/bulwark/internal/severity"
	"bulwark.dev/bulwark/internal/store"
	"bulwark.dev/bulwark/internal/vulndb"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
)

// JobKind is the job queue kind of scan jobs; their key is the digest.
const JobKind = "scan"

// ErrNoDatabase means no vulnerability database is installed.
var ErrNoDatabase = errors.New("no vulnerability database")

// Scanner scans stored images; it is the handler of the scan job kind.
type Scanner struct {
	Store    *store.Store
	Registry *registry.Handler
	// Queue is where scan jobs go (the server's job runner).
	Queue Queue
	// DBPath is the vulnerability database (bulwark db import/update).
	DBPath string
	// CacheDir holds the per-layer inventory cache ("" disables it).
	CacheDir string
	Logger   *slog.Logger
	Version  string
	// JobTimeout is one image's scan deadline (DefaultJobTimeout when 0);
	// a scan past it fails, visibly, instead of holding its worker.
	JobTimeout time.Duration
	// OnScanned is told of every stored result.
	OnScanned func(ctx context.Context, sc *store.Scan)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Queue takes jobs; *jobs.Runner implements it.
type Queue interface {
	Enqueue(ctx context.Context, kind, key, payload string) error
}

type payload struct {
	Repo string `json:"repo"`
}

func (s *Scanner) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Enqueue queues a scan of a stored manifest (deduplicated per digest).
func (s *Scanner) Enqueue(ctx context.Context, repo, digest string) error {
	b, _ := json.Marshal(payload{Repo: repo})
	return s.Queue.Enqueue(ctx, JobKind, digest, string(b))
}

// Kind is the scan job kind for the job runner: retried three times, with
// the scan deadline.
func (s *Scanner) Kind() jobs.Kind {
	return jobs.Kind{MaxAttempts: 3, Backoff: 30 * time.Second, Timeout: s.jobTimeout(), Handle: func(ctx context.Context, j *store.Job) error {
		var p payload
		if err := json.Unmarshal([]byte(j.Payload), &p); err != nil {
			return &jobs.Permanent{Err: fmt.Errorf("scan job %s: %w", j.Key, err)}
		}
		_, err := s.ScanDigest(ctx, p.Repo, j.Key)
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the scan took longer than its %s deadline and was stopped (the image is refused as unscanned; rescan it after raising --scan-timeout if it is genuine): %w", s.jobTimeout(), err)
		}
		return err
	}}
}

// DefaultJobTimeout bounds one image's scan.
const DefaultJobTimeout = 15 * time.Minute

func (s *Scanner) jobTimeout() time.Duration {
	if s.JobTimeout > 0 {
		return s.JobTimeout
	}
	return DefaultJobTimeout
}

// ScanDigest scans one stored image now and stores the result.
func (s *Scanner) ScanDigest(ctx context.Context, repo, digest string) (*store.Scan, error) {
	if _, err := os.Stat(s.DBPath); err != nil {
		return nil, fmt.Errorf("%w at %s: import advisories with 'bulwark db import' or 'bulwark db update'", ErrNoDatabase, s.DBPath)
	}
	db, err := vulndb.Open(s.DBPath)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	_, updated, err := db.Info(ctx)
	if err != nil {
		return nil, err
	}
	v1img, err := s.Registry.Image(ctx, repo, digest)
	if err != nil {
		return nil, fmt.Errorf("read %s@%s: %w", repo, digest, err)
	}
	img, err := image.FromV1(v1img, repo)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	exts := catalog.All()
	inv := &inventory.Scanner{Extractors: exts, Limits: image.DefaultLimits, MaxFileSize: inventory.DefaultMaxFileSize, HashExecutables: true,
		Logger: s.logger(), Tool: sbom.Tool{Name: "bulwark", Version: s.Version}}
	if s.CacheDir != "" {
		if inv.Cache, err = inventory.OpenCache(s.CacheDir, exts, inv.MaxFileSize); err != nil {
			return nil, err
		}
	}
	ir, err := scan.Image(ctx, inv, img, db, scan.Options{Now: s.now()})
	if err != nil {
		return nil, fmt.Errorf("scan %s@%s: %w", repo, digest, err)
	}
	res, vr := ir.Inventory, ir.Vulns
	findings := vr.Findings
	sc := &store.Scan{Digest: digest, Repo: repo, ScannedAt: s.now(), DBUpdated: updated}
	for _, part := range []struct {
		dst *string
		v   any
	}{{&sc.Findings, findings}, {&sc.OS, res.Doc.OS}, {&sc.Coverage, vr.Coverage}, {&sc.Warnings, vr.Warnings}, {&sc.Checks, StoredChecks(ir.Checks)}} {
		b, err := json.Marshal(part.v)
		if err != nil {
			return nil, err
		}
		*part.dst = string(b)
	}
	files, err := EncodeFiles(ir.Files)
	if err != nil {
		return nil, err
	}
	if err := s.Store.PutScanFiles(ctx, digest, files); err != nil {
		return nil, err
	}
	for _, f := range findings {
		switch f.Severity {
		case severity.Critical:
			sc.Critical++
		case severity.High:
			sc.High++
		case severity.Medium:
			sc.Medium++
		case severity.Low:
			sc.Low++
		default:
			sc.Unknown++
		}
	}
	if err := s.Store.PutScan(ctx, sc); err != nil {
		return nil, err
	}
	if err := s.Store.RecordFindings(ctx, digest, FindingKeys(findings)); err != nil {
		return nil, err
	}
	if s.OnScanned != nil {
		s.OnScanned(ctx, sc)
	}
	return sc, nil
}

func (s *Scanner) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// RescanAll queues every stored image for scanning.
func (s *Scanner) RescanAll(ctx context.Context) (int, error) {
	ms, err := s.Store.ImageManifests(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rd := range ms {
		m, err := s.Store.GetManifest(ctx, rd[0], rd[1])
		if err != nil || !registry.IsImage(m) {
			continue
		}
		if err := s.Enqueue(ctx, rd[0], rd[1]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// WatchDB requeues every stored image whenever the vulnerability
// database's update time changes (checked every interval). The last seen
// time is kept in the store, so a restart does not rescan for nothing
// and replicas agree.
func (s *Scanner) WatchDB(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.checkDB(ctx); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.logger().Warn("vulnerability database watch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scanner) checkDB(ctx context.Context) error {
	if _, err := os.Stat(s.DBPath); err != nil {
		return err
	}
	db, err := vulndb.Open(s.DBPath)
	if err != nil {
		return err
	}
	_, updated, err := db.Info(ctx)
	db.Close()
	if err != nil || updated.IsZero() {
		return err
	}
	stamp := updated.UTC().Format(time.RFC3339Nano)
	seen, err := s.Store.Setting(ctx, "scanned_db_updated")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if seen == stamp {
		return nil
	}
	n, err := s.RescanAll(ctx)
	if err != nil {
		return err
	}
	s.logger().Info("vulnerability database changed: rescanning", "images", n, "updated", stamp)
	return s.Store.PutSetting(ctx, "scanned_db_updated", stamp)
}

// StoredCheck is a hygiene check result as a scan keeps it.
type StoredCheck struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Severity string `json:"severity"`
	Message  string `json:"message,omitempty"`
}

// StoredChecks keeps what the verdict and the API need of check results.
func StoredChecks(rs []checks.Result) []StoredCheck {
	out := make([]StoredCheck, 0, len(rs))
	for _, r := range rs {
		out = append(out, StoredCheck{ID: r.CheckID, Status: r.Status, Severity: r.Severity.String(), Message: r.Message})
	}
	return out
}

// EncodeFiles is the stored form of a file index: gzip-compressed JSON.
func EncodeFiles(files []scan.FileEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(files); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeFiles reads a stored file index (at most 1 GiB decompressed).
func DecodeFiles(b []byte) ([]scan.FileEntry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("file index: %w", err)
	}
	var files []scan.FileEntry
	if err := json.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&files); err != nil {
		return nil, fmt.Errorf("file index: %w", err)
	}
	return files, nil
}

// FindingKeys names findings for the history: advisory and package.
func FindingKeys(fs []match.Finding) []store.FindingKey {
	seen := map[[2]string]bool{}
	out := make([]store.FindingKey, 0, len(fs))
	for _, f := range fs {
		pkg := f.Package.PURL
		if pkg == "" {
			pkg = f.Package.Name + "@" + f.Package.Version
		}
		k := [2]string{f.ID, pkg}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, store.FindingKey{Advisory: f.ID, Package: pkg, Severity: f.Severity.String(), Fixed: strings.Join(f.Fixed, ",")})
	}
	return out
}
