package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// Claim takes the oldest runnable job (queued and due, or running with a
// lapsed lease: its worker died) and leases it until now+lease. Two
// workers, on any replica, never hold the same job. ErrNotFound when
// there is none.
func (s *Store) Claim(ctx context.Context, lease time.Duration) (*Job, error) {
	now := s.now()
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	j := &Job{}
	err := s.db.QueryRowContext(ctx, s.q(`UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_until = ?, updated_at = ?
		WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND run_after <= ?) OR (state = 'running' AND locked_until < ?) ORDER BY id LIMIT 1`+lock+`)
		RETURNING id, kind, job_key, payload, attempts`), millis(now.Add(lease)), millis(now), millis(now), millis(now)).
		Scan(&j.ID, &j.Kind, &j.Key, &j.Payload, &j.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return j, nil
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
