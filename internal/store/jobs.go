package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Job is a unit of background work (a scan). Key deduplicates: while a
// job with the same kind and key is queued or running, enqueuing another
// does nothing.
type Job struct {
	ID       int64
	Kind     string
	Key      string
	Payload  string
	Attempts int
}

// Enqueue adds a job unless one with its kind and key is pending. It
// reports whether a job was added.
func (s *Store) Enqueue(ctx context.Context, kind, key, payload string) (bool, error) {
	now := millis(s.now())
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO jobs (kind, job_key, payload, state, run_after, created_at, updated_at)
		VALUES (?, ?, ?, 'queued', ?, ?, ?) ON CONFLICT DO NOTHING`), kind, key, payload, now, now, now)
	if err != nil {
		return false, fmt.Errorf("enqueue %s %s: %w", kind, key, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Claim takes the oldest runnable job of one of kinds (queued and due,
// or running with a lapsed lease: its worker died) and leases it until
// now+lease. Two workers, on any replica, never hold the same job; a
// worker never takes a kind it cannot run. ErrNotFound when there is
// none.
func (s *Store) Claim(ctx context.Context, lease time.Duration, kinds ...string) (*Job, error) {
	if len(kinds) == 0 {
		return nil, errors.New("claim: no job kinds named")
	}
	now := s.now()
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	marks := strings.TrimSuffix(strings.Repeat("?,", len(kinds)), ",")
	args := []any{millis(now.Add(lease)), millis(now)}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, millis(now), millis(now))
	j := &Job{}
	err := s.db.QueryRowContext(ctx, s.q(`UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_until = ?, updated_at = ?
		WHERE id = (SELECT id FROM jobs WHERE kind IN (`+marks+`) AND ((state = 'queued' AND run_after <= ?) OR (state = 'running' AND locked_until < ?)) ORDER BY id LIMIT 1`+lock+`)
		RETURNING id, kind, job_key, payload, attempts`), args...).
		Scan(&j.ID, &j.Kind, &j.Key, &j.Payload, &j.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// JobInfo is a job as the API shows it.
type JobInfo struct {
	ID       int64     `json:"id"`
	Kind     string    `json:"kind"`
	Key      string    `json:"key"`
	State    string    `json:"state"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	RunAfter time.Time `json:"runAfter"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Jobs lists the newest jobs, optionally of one kind and state, at most n.
func (s *Store) Jobs(ctx context.Context, kind, state string, n int) ([]JobInfo, error) {
	q := `SELECT id, kind, job_key, state, attempts, error, run_after, created_at, updated_at FROM jobs WHERE 1 = 1`
	var args []any
	if kind != "" {
		q += ` AND kind = ?`
		args = append(args, kind)
	}
	if state != "" {
		q += ` AND state = ?`
		args = append(args, state)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, n)
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobInfo
	for rows.Next() {
		var j JobInfo
		var ra, ca, ua int64
		if err := rows.Scan(&j.ID, &j.Kind, &j.Key, &j.State, &j.Attempts, &j.Error, &ra, &ca, &ua); err != nil {
			return nil, err
		}
		j.RunAfter, j.Created, j.Updated = time.UnixMilli(ra).UTC(), time.UnixMilli(ca).UTC(), time.UnixMilli(ua).UTC()
		out = append(out, j)
	}
	return out, rows.Err()
}

// Schedule is a recurring job: its kind fires at each time spec (cron
// syntax) names.
type Schedule struct {
	Name, Spec, Kind, Payload string
	Next                      time.Time
}

// PutSchedule creates or changes a schedule; next is its first run.
func (s *Store) PutSchedule(ctx context.Context, sc Schedule) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO schedules (name, spec, kind, payload, next_run) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, kind = excluded.kind, payload = excluded.payload,
		next_run = CASE WHEN schedules.spec = excluded.spec THEN schedules.next_run ELSE excluded.next_run END`),
		sc.Name, sc.Spec, sc.Kind, sc.Payload, millis(sc.Next))
	return err
}

// DeleteSchedule removes a schedule (a benchmark turned off); removing
// one that is not there is no error.
func (s *Store) DeleteSchedule(ctx context.Context, name string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM schedules WHERE name = ?`), name)
	return err
}

// Schedules lists the schedules.
func (s *Store) Schedules(ctx context.Context) ([]Schedule, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, spec, kind, payload, next_run FROM schedules ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Schedule
	for rows.Next() {
		var sc Schedule
		var next int64
		if err := rows.Scan(&sc.Name, &sc.Spec, &sc.Kind, &sc.Payload, &next); err != nil {
			return nil, err
		}
		sc.Next = time.UnixMilli(next)
		out = append(out, sc)
	}
	return out, rows.Err()
}

// AdvanceSchedule moves a schedule from the run due at due to next,
// only if no one did it first: of the replicas that find a run due, one
// wins and enqueues it.
func (s *Store) AdvanceSchedule(ctx context.Context, name string, due, next time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE schedules SET next_run = ? WHERE name = ? AND next_run = ?`), millis(next), name, millis(due))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Extend renews a running job's lease (a heartbeat during long work).
func (s *Store) Extend(ctx context.Context, id int64, lease time.Duration) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE jobs SET locked_until = ? WHERE id = ? AND state = 'running'`), millis(s.now().Add(lease)), id)
	return err
}

// Finish marks a job done, or, on failure, queues it again after backoff
// until maxAttempts, then marks it failed with the error.
func (s *Store) Finish(ctx context.Context, j *Job, jobErr error, maxAttempts int, backoff time.Duration) error {
	now := s.now()
	var err error
	switch {
	case jobErr == nil:
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE jobs SET state = 'done', error = '', updated_at = ? WHERE id = ?`), millis(now), j.ID)
	case j.Attempts < maxAttempts:
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE jobs SET state = 'queued', run_after = ?, error = ?, updated_at = ? WHERE id = ?`),
			millis(now.Add(backoff*time.Duration(j.Attempts))), jobErr.Error(), millis(now), j.ID)
	default:
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ?`), jobErr.Error(), millis(now), j.ID)
	}
	return err
}

// JobState returns the state and last error of the newest job of a kind
// and key ("" when there is none).
func (s *Store) JobState(ctx context.Context, kind, key string) (state, lastErr string, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT state, error FROM jobs WHERE kind = ? AND job_key = ? ORDER BY id DESC LIMIT 1`), kind, key).Scan(&state, &lastErr)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	return state, lastErr, err
}

// JobPayload returns the payload of the newest job of a kind and key (""
// when there is none).
func (s *Store) JobPayload(ctx context.Context, kind, key string) (string, error) {
	var payload string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT payload FROM jobs WHERE kind = ? AND job_key = ? ORDER BY id DESC LIMIT 1`), kind, key).Scan(&payload)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return payload, err
}
