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
	// FixSeen is when a scan first reported a fix (zero: none yet).
	FixSeen time.Time
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
			// fix_seen: when a fix was first reported (the patch clock's
			// start), kept once set.
			fixSeen := int64(0)
			if f.Fixed != "" {
				fixSeen = at
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO finding_history (digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at, fix_seen)
				VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (digest, advisory, package) DO UPDATE SET
				severity = excluded.severity, fixed = excluded.fixed, last_seen = excluded.last_seen, resolved_at = 0,
				fix_seen = CASE WHEN finding_history.fix_seen = 0 THEN excluded.fix_seen ELSE finding_history.fix_seen END`),
				digest, f.Advisory, f.Package, f.Severity, f.Fixed, at, at, fixSeen); err != nil {
				return fmt.Errorf("finding history of %s: %w", digest, err)
			}
		}
		for k := range open {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE finding_history SET resolved_at = ? WHERE digest = ? AND advisory = ? AND package = ?`), at, digest, k[0], k[1]); err != nil {
				return err
			}
		}
		return s.markSLADigest(ctx, tx, digest)
	})
}

// FindingHistory lists a digest's findings, open and resolved, by
// advisory and package.
func (s *Store) FindingHistory(ctx context.Context, digest string) ([]FindingRecord, error) {
	return s.findings(ctx, `SELECT digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at, fix_seen
		FROM finding_history WHERE digest = ? ORDER BY advisory, package`, digest)
}

// EachFinding calls fn with every digest's findings, open and resolved,
// by digest: the patch clock reads a million without holding two copies.
// n is how many there are, so the caller can size what it keeps.
func (s *Store) EachFinding(ctx context.Context, fn func(n int, r *FindingRecord) error) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM finding_history`).Scan(&n); err != nil {
		return err
	}
	return s.eachFinding(ctx, func(r *FindingRecord) error { return fn(n, r) }, `SELECT digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at, fix_seen
		FROM finding_history ORDER BY digest`)
}

func (s *Store) findings(ctx context.Context, query string, args ...any) ([]FindingRecord, error) {
	var out []FindingRecord
	err := s.eachFinding(ctx, func(r *FindingRecord) error { out = append(out, *r); return nil }, query, args...)
	return out, err
}

func (s *Store) eachFinding(ctx context.Context, fn func(*FindingRecord) error, query string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var r FindingRecord
		var first, last, resolved, fixSeen int64
		if err := rows.Scan(&r.Digest, &r.Advisory, &r.Package, &r.Severity, &r.Fixed, &first, &last, &resolved, &fixSeen); err != nil {
			return err
		}
		r.FirstSeen, r.LastSeen = time.UnixMilli(first), time.UnixMilli(last)
		if resolved > 0 {
			r.ResolvedAt = time.UnixMilli(resolved)
		}
		if fixSeen > 0 {
			r.FixSeen = time.UnixMilli(fixSeen)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// TagPeriod is a span during which a tag named a digest.
type TagPeriod struct {
	// Repo and Tag are set by TagPeriods (TagHistory is of one tag).
	Repo, Tag string
	Digest    string
	Since     time.Time
	// Until is when the tag moved or was deleted (zero: it still does).
	Until time.Time
}

// TagHistory lists which digest a tag named over time, oldest first.
func (s *Store) TagHistory(ctx context.Context, repo, tag string) ([]TagPeriod, error) {
	return s.tagPeriods(ctx, `SELECT repo, tag, digest, since, until_at FROM tag_history WHERE repo = ? AND tag = ? ORDER BY since, id`, repo, tag)
}

// TagPeriods lists every tag's history, by repository and tag.
func (s *Store) TagPeriods(ctx context.Context) ([]TagPeriod, error) {
	return s.tagPeriods(ctx, `SELECT repo, tag, digest, since, until_at FROM tag_history ORDER BY repo, tag, since, id`)
}

// Notice records that a notice (an SLA warning or breach) was given for
// a clock, once: true when this call recorded it, false when it had been
// already, by this replica or another.
func (s *Store) Notice(ctx context.Context, clock, kind string, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO sla_notices (clock, kind, at) VALUES (?, ?, ?) ON CONFLICT (clock, kind) DO NOTHING`), clock, kind, millis(at))
	if err != nil {
		return false, fmt.Errorf("notice %s for %s: %w", kind, clock, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) tagPeriods(ctx context.Context, query string, args ...any) ([]TagPeriod, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TagPeriod
	for rows.Next() {
		var p TagPeriod
		var since, until int64
		if err := rows.Scan(&p.Repo, &p.Tag, &p.Digest, &since, &until); err != nil {
			return nil, err
		}
		p.Since, p.Until = span(since, until)
		out = append(out, p)
	}
	return out, rows.Err()
}

// span reads a period's stored times; 0 is "not yet".
func span(since, until int64) (time.Time, time.Time) {
	return time.UnixMilli(since), unzeroMillis(until)
}

// unzeroMillis reads a stored time where 0 means none.
func unzeroMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
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
	// endTag has marked the repository's clocks stale.
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO tag_history (repo, tag, digest, since) VALUES (?, ?, ?, ?)`), repo, tag, digest, at)
	return err
}

// endTag closes the tag's open period (moved or deleted).
func (s *Store) endTag(ctx context.Context, tx execer, repo, tag string, at int64) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE tag_history SET until_at = ? WHERE repo = ? AND tag = ? AND until_at = 0`), at, repo, tag); err != nil {
		return err
	}
	return s.markSLARepo(ctx, tx, repo)
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
