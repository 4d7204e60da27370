package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// WorkloadImage is the image one running container runs, as an
// inventory saw it: Workload names the container ("ns/pod/container").
type WorkloadImage struct {
	Workload, Repo, Digest string
}

// WorkloadPeriod is a span during which a workload ran a digest.
type WorkloadPeriod struct {
	// Source is the inventory (a cluster's name).
	Source, Workload, Repo, Digest string
	Since                          time.Time
	// Until is when it stopped, or moved to another digest (zero: it
	// still runs).
	Until time.Time
}

// RecordWorkloads makes running the whole of source's inventory now, in
// one transaction: a workload seen for the first time (or on another
// digest) starts a period, one no longer seen ends its period. It says
// how many periods started and ended.
func (s *Store) RecordWorkloads(ctx context.Context, source string, running []WorkloadImage) (started, ended int, err error) {
	at := millis(s.now())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		started, ended = 0, 0
		rows, err := tx.QueryContext(ctx, s.q(`SELECT id, workload, repo, digest FROM workload_history WHERE source = ? AND until_at = 0`), source)
		if err != nil {
			return err
		}
		type open struct {
			id           int64
			repo, digest string
		}
		cur := map[string]open{}
		for rows.Next() {
			var o open
			var w string
			if err := rows.Scan(&o.id, &w, &o.repo, &o.digest); err != nil {
				rows.Close()
				return err
			}
			cur[w] = o
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, r := range running {
			if seen[r.Workload] {
				continue
			}
			seen[r.Workload] = true
			if o, ok := cur[r.Workload]; ok && o.repo == r.Repo && o.digest == r.Digest {
				delete(cur, r.Workload)
				continue
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO workload_history (source, workload, repo, digest, since) VALUES (?, ?, ?, ?, ?)`), source, r.Workload, r.Repo, r.Digest, at); err != nil {
				return fmt.Errorf("workload %s: %w", r.Workload, err)
			}
			if err := s.markSLARepo(ctx, tx, r.Repo); err != nil {
				return err
			}
			started++
		}
		// What is left either stopped or moved to the digest just added.
		for _, o := range cur {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE workload_history SET until_at = ? WHERE id = ?`), at, o.id); err != nil {
				return err
			}
			if err := s.markSLARepo(ctx, tx, o.repo); err != nil {
				return err
			}
			ended++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("workload inventory of %s: %w", source, err)
	}
	return started, ended, nil
}

// WorkloadPeriods lists every workload's history, by source, workload
// and time.
func (s *Store) WorkloadPeriods(ctx context.Context) ([]WorkloadPeriod, error) {
	return s.workloadPeriods(ctx, `SELECT source, workload, repo, digest, since, until_at FROM workload_history ORDER BY source, workload, since, id`)
}

func (s *Store) workloadPeriods(ctx context.Context, query string, args ...any) ([]WorkloadPeriod, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []WorkloadPeriod
	for rows.Next() {
		var p WorkloadPeriod
		var since, until int64
		if err := rows.Scan(&p.Source, &p.Workload, &p.Repo, &p.Digest, &since, &until); err != nil {
			return nil, err
		}
		p.Since, p.Until = span(since, until)
		out = append(out, p)
	}
	return out, rows.Err()
}
