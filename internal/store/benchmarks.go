package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// BenchmarkRun is one run of a CIS benchmark: its counts and score, and
// its report (the benchmark's own JSON) as evidence.
type BenchmarkRun struct {
	ID string `json:"id"`
	// Kind is the benchmark: "docker" or "kubernetes".
	Kind     string    `json:"kind"`
	Host     string    `json:"host"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Summary counts the verdicts (PASS, WARN, FAIL, INFO, NOTE).
	Summary map[string]int `json:"summary"`
	Score   int            `json:"score"`
	// Report is left out of listings.
	Report json.RawMessage `json:"report,omitempty"`
}

// AddBenchmarkRun keeps a run; its ID is the kind and start time.
func (s *Store) AddBenchmarkRun(ctx context.Context, r *BenchmarkRun) error {
	if r.ID == "" {
		r.ID = fmt.Sprintf("%s-%d", r.Kind, r.Started.UnixMilli())
	}
	summary, _ := json.Marshal(r.Summary)
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO benchmark_runs (id, kind, host, started, finished, summary, score, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Kind, r.Host, millis(r.Started), millis(r.Finished), string(summary), r.Score, string(r.Report))
	if err != nil {
		return fmt.Errorf("benchmark run %s: %w", r.ID, err)
	}
	return nil
}

// BenchmarkRuns lists runs of a kind (every kind when empty), newest
// first, without their reports: the trend.
func (s *Store) BenchmarkRuns(ctx context.Context, kind string, limit int) ([]BenchmarkRun, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	query := `SELECT id, kind, host, started, finished, summary, score FROM benchmark_runs`
	var args []any
	if kind != "" {
		query += ` WHERE kind = ?`
		args = append(args, kind)
	}
	query += fmt.Sprintf(` ORDER BY started DESC, id LIMIT %d`, limit)
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []BenchmarkRun{}
	for rows.Next() {
		r, err := scanBenchmark(rows.Scan, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// BenchmarkRun returns one run with its report.
func (s *Store) BenchmarkRun(ctx context.Context, id string) (BenchmarkRun, error) {
	row := s.db.QueryRowContext(ctx, s.q(`SELECT id, kind, host, started, finished, summary, score, report FROM benchmark_runs WHERE id = ?`), id)
	r, err := scanBenchmark(row.Scan, true)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

func scanBenchmark(scan func(...any) error, withReport bool) (BenchmarkRun, error) {
	var r BenchmarkRun
	var started, finished int64
	var summary, report string
	dest := []any{&r.ID, &r.Kind, &r.Host, &started, &finished, &summary, &r.Score}
	if withReport {
		dest = append(dest, &report)
	}
	if err := scan(dest...); err != nil {
		return r, err
	}
	r.Started, r.Finished = time.UnixMilli(started), time.UnixMilli(finished)
	if err := json.Unmarshal([]byte(summary), &r.Summary); err != nil {
		return r, fmt.Errorf("benchmark run %s: summary: %w", r.ID, err)
	}
	if withReport {
		r.Report = json.RawMessage(report)
	}
	return r, nil
}

// PruneBenchmarkRuns removes runs started before cutoff (the audit
// trail's retention).
func (s *Store) PruneBenchmarkRuns(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM benchmark_runs WHERE started < ?`), millis(cutoff))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
