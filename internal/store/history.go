package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FindingKey names one finding of a scanned digest: an advisory in a
// package (name@version, or its PURL).
type FindingKey struct {
	Advisory, Package, Severity, Fixed string
}

// FindingRecord is a finding with its history.
type FindingRecord struct {
	Digest string
	FindingKey
	FirstSeen, LastSeen time.Time
	// ResolvedAt is when a rescan no longer found it (zero: open).
	ResolvedAt time.Time
}

// RecordFindings compares a digest's new scan with what is on record, in
// one transaction: findings seen again get last_seen, new ones first_seen
// (a finding that comes back is open again, its first sighting kept),
// and open ones the scan no longer reports are resolved at that time.
func (s *Store) RecordFindings(ctx context.Context, digest string, current []FindingKey) error {
	at := millis(s.now())
	return s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.q(`SELECT advisory, package FROM finding_history WHERE digest = ? AND resolved_at = 0`), digest)
		if err != nil {
			return err
		}
		open := map[[2]string]bool{}
		for rows.Next() {
			var k [2]string
			if err := rows.Scan(&k[0], &k[1]); err != nil {
				rows.Close()
				return err
			}
			open[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, f := range current {
			delete(open, [2]string{f.Advisory, f.Package})
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO finding_history (digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (digest, advisory, package) DO UPDATE SET
				severity = excluded.severity, fixed = excluded.fixed, last_seen = excluded.last_seen, resolved_at = 0`),
				digest, f.Advisory, f.Package, f.Severity, f.Fixed, at, at); err != nil {
				return fmt.Errorf("finding history of %s: %w", digest, err)
			}
		}
		for k := range open {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE finding_history SET resolved_at = ? WHERE digest = ? AND advisory = ? AND package = ?`), at, digest, k[0], k[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// FindingHistory lists a digest's findings, open and resolved, by
// advisory and package.
func (s *Store) FindingHistory(ctx context.Context, digest string) ([]FindingRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT advisory, package, severity, fixed, first_seen, last_seen, resolved_at
		FROM finding_history WHERE digest = ? ORDER BY advisory, package`), digest)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FindingRecord
	for rows.Next() {
		r := FindingRecord{Digest: digest}
		var first, last, resolved int64
		if err := rows.Scan(&r.Advisory, &r.Package, &r.Severity, &r.Fixed, &first, &last, &resolved); err != nil {
			return nil, err
		}
		r.FirstSeen, r.LastSeen = time.UnixMilli(first), time.UnixMilli(last)
		if resolved > 0 {
			r.ResolvedAt = time.UnixMilli(resolved)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// TagPeriod is a span during which a tag named a digest.
type TagPeriod struct {
	Digest string
	Since  time.Time
	// Until is when the tag moved or was deleted (zero: it still does).
	Until time.Time
}

// TagHistory lists which digest a tag named over time, oldest first.
func (s *Store) TagHistory(ctx context.Context, repo, tag string) ([]TagPeriod, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT digest, since, until_at FROM tag_history WHERE repo = ? AND tag = ? ORDER BY since, id`), repo, tag)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TagPeriod
	for rows.Next() {
		var p TagPeriod
		var since, until int64
		if err := rows.Scan(&p.Digest, &since, &until); err != nil {
			return nil, err
		}
		p.Since = time.UnixMilli(since)
		if until > 0 {
			p.Until = time.UnixMilli(until)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// recordTag notes that tag now names digest (nothing when it already did).
func (s *Store) recordTag(ctx context.Context, tx execer, repo, tag, digest string, at int64) error {
	var cur string
	err := tx.QueryRowContext(ctx, s.q(`SELECT digest FROM tag_history WHERE repo = ? AND tag = ? AND until_at = 0 ORDER BY id DESC LIMIT 1`), repo, tag).Scan(&cur)
	switch {
	case err == nil && cur == digest:
		return nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if err := s.endTag(ctx, tx, repo, tag, at); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO tag_history (repo, tag, digest, since) VALUES (?, ?, ?, ?)`), repo, tag, digest, at)
	return err
}

// endTag closes the tag's open period (moved or deleted).
func (s *Store) endTag(ctx context.Context, tx execer, repo, tag string, at int64) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE tag_history SET until_at = ? WHERE repo = ? AND tag = ? AND until_at = 0`), at, repo, tag)
	return err
}

// PutScanFiles stores a digest's file index (compressed JSON).
func (s *Store) PutScanFiles(ctx context.Context, digest string, files []byte) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO scan_files (digest, files) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET files = excluded.files`), digest, files)
	return err
}

// ScanFiles returns a digest's stored file index, or ErrNotFound.
func (s *Store) ScanFiles(ctx context.Context, digest string) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT files FROM scan_files WHERE digest = ?`), digest).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return b, err
}
