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
	"sync"
	"time"

	"bulwark.dev/bulwark/internal/checks"
	"bulwark.dev/bulwark/internal/image"
	"bulwark.dev/bulwark/internal/inventory"
	"bulwark.dev/bulwark/internal/inventory/catalog"
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

// Scanner runs scan jobs.
type Scanner struct {
	Store    *store.Store
	Registry *registry.Handler
	// DBPath is the vulnerability database (bulwark db import/update).
	DBPath string
	// CacheDir holds the per-layer inventory cache ("" disables it).
	CacheDir string
	Logger   *slog.Logger
	Version  string
	// Lease is how long a claimed job stays with this worker without a
	// heartbeat; a killed worker's job is taken again after it lapses.
	Lease time.Duration
	// Poll is how often an idle worker looks for jobs.
	Poll time.Duration
	// JobTimeout is one image's scan deadline (DefaultJobTimeout when 0);
	// a scan past it fails, visibly, instead of holding its worker.
	JobTimeout time.Duration
	// OnScanned is told of every stored result.
	OnScanned func(ctx context.Context, sc *store.Scan)
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	wake chan struct{}
	once sync.Once
}

type payload struct {
	Repo string `json:"repo"`
}

// init fills defaults once; workers, the watch and Enqueue all call it.
func (s *Scanner) init() {
	s.once.Do(func() {
		s.wake = make(chan struct{}, 1)
		if s.Lease == 0 {
			s.Lease = 2 * time.Minute
		}
		if s.Poll == 0 {
			s.Poll = time.Second
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Enqueue queues a scan of a stored manifest (deduplicated per digest).
func (s *Scanner) Enqueue(ctx context.Context, repo, digest string) error {
	s.init()
	b, _ := json.Marshal(payload{Repo: repo})
	if _, err := s.Store.Enqueue(ctx, JobKind, digest, string(b)); err != nil {
		return err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run works the queue until ctx ends.
func (s *Scanner) Run(ctx context.Context) {
	s.init()
	for ctx.Err() == nil {
		j, err := s.Store.Claim(ctx, s.Lease)
		if errors.Is(err, store.ErrNotFound) {
			select {
			case <-ctx.Done():
			case <-s.wake:
			case <-time.After(s.Poll):
			}
			continue
		}
		if err != nil {
			s.Logger.Error("scan queue", "err", err)
			time.Sleep(s.Poll)
			continue
		}
		s.work(ctx, j)
	}
}

func (s *Scanner) work(ctx context.Context, j *store.Job) {
	var p payload
	attempts := 3
	err := json.Unmarshal([]byte(j.Payload), &p)
	if err == nil {
		// A deadline per image: one image can never hold a worker (its
		// heartbeat keeping the lease) for good.
		sctx, cancel := context.WithTimeout(ctx, s.jobTimeout())
		hb, stop := context.WithCancel(sctx)
		go s.heartbeat(hb, j.ID)
		_, err = s.ScanDigest(sctx, p.Repo, j.Key)
		stop()
		if ctx.Err() == nil && errors.Is(sctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("the scan took longer than its %s deadline and was stopped (the image is refused as unscanned; rescan it after raising --scan-timeout if it is genuine)", s.jobTimeout())
			attempts = j.Attempts // the same image would only take as long again
		}
		cancel()
	}
	if ctx.Err() != nil {
		return // shutting down: the lease lapses and the job is taken again
	}
	if err != nil {
		s.Logger.Warn("scan failed", "repo", p.Repo, "digest", j.Key, "attempt", j.Attempts, "err", err)
	}
	if ferr := s.Store.Finish(context.Background(), j, err, attempts, 30*time.Second); ferr != nil {
		s.Logger.Error("scan queue", "err", ferr)
	}
}

// DefaultJobTimeout bounds one image's scan.
const DefaultJobTimeout = 15 * time.Minute

func (s *Scanner) jobTimeout() time.Duration {
	if s.JobTimeout > 0 {
		return s.JobTimeout
	}
	return DefaultJobTimeout
}

func (s *Scanner) heartbeat(ctx context.Context, id int64) {
	t := time.NewTicker(s.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Store.Extend(ctx, id, s.Lease)
		}
	}
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
	inv := &inventory.Scanner{Extractors: exts, Limits: image.DefaultLimits, MaxFileSize: inventory.DefaultMaxFileSize,
		Logger: s.Logger, Tool: sbom.Tool{Name: "bulwark", Version: s.Version}}
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
	s.init()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.checkDB(ctx); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.Logger.Warn("vulnerability database watch", "err", err)
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
	s.Logger.Info("vulnerability database changed: rescanning", "images", n, "updated", stamp)
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
