package store

import (
	"context"
	"database/sql"
)

// DirtyRepo is a repository whose clocks are stale, and the generation
// of its last change.
type DirtyRepo struct {
	Repo string
	Gen  int64
}

const markSLA = `INSERT INTO sla_dirty (repo, gen) VALUES (?, 1) ON CONFLICT (repo) DO UPDATE SET gen = sla_dirty.gen + 1`

// markSLARepo says a repository's clocks are stale, in the transaction
// that changed its history.
func (s *Store) markSLARepo(ctx context.Context, tx execer, repo string) error {
	_, err := tx.ExecContext(ctx, s.q(markSLA), repo)
	return err
}

// markSLADigest makes stale the clocks of every repository a tag or a
// workload of which ever named digest.
func (s *Store) markSLADigest(ctx context.Context, tx execer, digest string) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO sla_dirty (repo, gen)
		SELECT repo, 1 FROM (SELECT repo FROM tag_history WHERE digest = ? UNION SELECT repo FROM workload_history WHERE digest = ?) AS r WHERE true
		ON CONFLICT (repo) DO UPDATE SET gen = sla_dirty.gen + 1`), digest, digest)
	return err
}

// DirtySLARepos lists the repositories whose clocks are stale.
func (s *Store) DirtySLARepos(ctx context.Context) ([]DirtyRepo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, gen FROM sla_dirty ORDER BY repo`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DirtyRepo
	for rows.Next() {
		var d DirtyRepo
		if err := rows.Scan(&d.Repo, &d.Gen); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RepoHistory is one repository's share of the clocks' inputs: its tag
// and workload periods, and the findings of every digest they named.
func (s *Store) RepoHistory(ctx context.Context, repo string) ([]FindingRecord, []TagPeriod, []WorkloadPeriod, error) {
	tags, err := s.tagPeriods(ctx, `SELECT repo, tag, digest, since, until_at FROM tag_history WHERE repo = ? ORDER BY tag, since, id`, repo)
	if err != nil {
		return nil, nil, nil, err
	}
	wls, err := s.workloadPeriods(ctx, `SELECT source, workload, repo, digest, since, until_at FROM workload_history WHERE repo = ? ORDER BY source, workload, since, id`, repo)
	if err != nil {
		return nil, nil, nil, err
	}
	fs, err := s.findings(ctx, `SELECT digest, advisory, package, severity, fixed, first_seen, last_seen, resolved_at, fix_seen FROM finding_history
		WHERE digest IN (SELECT digest FROM tag_history WHERE repo = ? UNION SELECT digest FROM workload_history WHERE repo = ?) ORDER BY digest`, repo, repo)
	if err != nil {
		return nil, nil, nil, err
	}
	return fs, tags, wls, nil
}

// PutSLAClocks replaces a repository's kept clocks (n of them, encoded
// by the caller), and clears its stale mark unless it changed again
// (another generation) meanwhile.
func (s *Store) PutSLAClocks(ctx context.Context, repo string, gen int64, clocks []byte, n int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM sla_clocks WHERE repo = ?`), repo); err != nil {
			return err
		}
		if n > 0 {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sla_clocks (repo, clocks, n) VALUES (?, ?, ?)`), repo, clocks, n); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM sla_dirty WHERE repo = ? AND gen = ?`), repo, gen)
		return err
	})
}

// EachSLAClocks calls fn with every repository's kept clocks; total is
// how many clocks there are in all.
func (s *Store) EachSLAClocks(ctx context.Context, fn func(total int, repo string, clocks []byte) error) error {
	var total sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT SUM(n) FROM sla_clocks`).Scan(&total); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT repo, clocks FROM sla_clocks ORDER BY repo`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var repo string
		var b []byte
		if err := rows.Scan(&repo, &b); err != nil {
			return err
		}
		if err := fn(int(total.Int64), repo, b); err != nil {
			return err
		}
	}
	return rows.Err()
}
