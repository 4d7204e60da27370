package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Scan is the stored result of scanning one manifest digest. Findings is
// the matcher's findings as JSON; the pull gate applies each project's
// exceptions to them at pull time.
type Scan struct {
	Digest, Repo string
	ScannedAt    time.Time
	// DBUpdated is when the vulnerability database used was updated.
	DBUpdated                            time.Time
	Critical, High, Medium, Low, Unknown int
	Findings                             string
	// OS, Coverage and Warnings are JSON: the image's OS and its end of
	// life, per ecosystem whether the database held advisories, and what
	// the reader of the result must know ("" for scans stored before they
	// were recorded).
	OS, Coverage, Warnings string
	// Checks are the image hygiene check results (JSON).
	Checks string
}

// PutScan stores (replaces) a digest's scan result. Until it is called,
// the previous result stays in force: a rescan never makes an approved
// digest unpullable while it runs.
func (s *Store) PutScan(ctx context.Context, sc *Scan) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO scans (digest, repo, scanned_at, db_updated, critical, high, medium, low, unknown, findings, os, coverage, warnings, checks)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET repo = excluded.repo, scanned_at = excluded.scanned_at, db_updated = excluded.db_updated,
		critical = excluded.critical, high = excluded.high, medium = excluded.medium, low = excluded.low, unknown = excluded.unknown, findings = excluded.findings,
		os = excluded.os, coverage = excluded.coverage, warnings = excluded.warnings, checks = excluded.checks`),
		sc.Digest, sc.Repo, millis(sc.ScannedAt), millis(sc.DBUpdated), sc.Critical, sc.High, sc.Medium, sc.Low, sc.Unknown, sc.Findings, sc.OS, sc.Coverage, sc.Warnings, sc.Checks)
	return err
}

// GetScan returns a digest's scan, or ErrNotFound.
func (s *Store) GetScan(ctx context.Context, digest string) (*Scan, error) {
	sc := &Scan{Digest: digest}
	var at, dbu int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT repo, scanned_at, db_updated, critical, high, medium, low, unknown, findings, os, coverage, warnings, checks FROM scans WHERE digest = ?`), digest).
		Scan(&sc.Repo, &at, &dbu, &sc.Critical, &sc.High, &sc.Medium, &sc.Low, &sc.Unknown, &sc.Findings, &sc.OS, &sc.Coverage, &sc.Warnings, &sc.Checks)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	sc.ScannedAt, sc.DBUpdated = time.UnixMilli(at), time.UnixMilli(dbu)
	return sc, err
}

// ScanTime is when digest's stored scan finished (ErrNotFound when it
// has none): enough for a caller holding that scan decoded to know it is
// current without reading its findings again.
func (s *Store) ScanTime(ctx context.Context, digest string) (time.Time, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT scanned_at FROM scans WHERE digest = ?`), digest).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	return time.UnixMilli(at), err
}

// ImageManifests lists (repo, digest) of every stored image manifest (not
// indexes), whatever artifact type its pusher gave it: what a rescan
// covers, after registry.IsImage has judged the content.
func (s *Store) ImageManifests(ctx context.Context) ([][2]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, digest FROM manifests WHERE media_type IN ('application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json') ORDER BY repo, digest`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ProjectPolicy returns a project's pull policy JSON ("" when unset or
// the project does not exist).
func (s *Store) ProjectPolicy(ctx context.Context, project string) (string, error) {
	var p string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT policy FROM projects WHERE name = ?`), project).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return p, err
}

// SetProjectPolicy stores a project's pull policy JSON and who set it,
// creating the project if needed.
func (s *Store) SetProjectPolicy(ctx context.Context, project, policy, by string) error {
	if err := s.EnsureProject(ctx, project, false); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE projects SET policy = ?, policy_by = ? WHERE name = ?`), policy, by, project)
	return err
}

// ProjectPolicyAuthor is who last set a project's pull policy ("" when
// it has none or it was set before authors were kept).
func (s *Store) ProjectPolicyAuthor(ctx context.Context, project string) (string, error) {
	var by string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT policy_by FROM projects WHERE name = ?`), project).Scan(&by)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return by, err
}
