-- Scan on push and the pull gate: a persistent job queue (a job survives
-- restarts: a running job whose lease lapses is taken again), scan
-- results per manifest digest, and each project's pull policy (JSON).
CREATE TABLE jobs (
  id {{SERIAL}},
  kind TEXT NOT NULL,
  job_key TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  run_after BIGINT NOT NULL,
  locked_until BIGINT NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_pending ON jobs (kind, job_key) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_state ON jobs (state, run_after);
CREATE TABLE scans (
  digest TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  scanned_at BIGINT NOT NULL,
  db_updated BIGINT NOT NULL,
  critical INTEGER NOT NULL,
  high INTEGER NOT NULL,
  medium INTEGER NOT NULL,
  low INTEGER NOT NULL,
  unknown INTEGER NOT NULL,
  findings TEXT NOT NULL
);
ALTER TABLE projects ADD COLUMN policy TEXT NOT NULL DEFAULT ''
