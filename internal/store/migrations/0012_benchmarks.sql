-- CIS benchmark runs (bulwark serve's scheduled cis.docker and
-- cis.kubernetes jobs): each run's verdict counts and score, for the
-- trend, and its whole report, as the evidence an auditor reads.
CREATE TABLE benchmark_runs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  host TEXT NOT NULL,
  started BIGINT NOT NULL,
  finished BIGINT NOT NULL,
  summary TEXT NOT NULL,
  score BIGINT NOT NULL,
  report TEXT NOT NULL
);
CREATE INDEX benchmark_runs_kind ON benchmark_runs (kind, started)
