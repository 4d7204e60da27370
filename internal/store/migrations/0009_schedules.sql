-- Recurring jobs: a schedule's next run is advanced by compare-and-set,
-- so of all replicas exactly one enqueues each due run.
CREATE TABLE schedules (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL DEFAULT '',
  next_run BIGINT NOT NULL
)
