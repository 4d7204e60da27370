-- The patch clocks kept up to date (bulwark report sla reads them instead
-- of recomputing a million findings): each repository's clocks as of its
-- last change, in one row (internal/sla encodes them), and the
-- repositories whose history changed since (a scan
-- of one of their digests, a tag moved, a workload started or stopped),
-- with a generation so a change during a recompute is not lost.
CREATE TABLE sla_clocks (
  repo TEXT PRIMARY KEY,
  clocks {{BYTES}} NOT NULL,
  n BIGINT NOT NULL
);
CREATE TABLE sla_dirty (
  repo TEXT PRIMARY KEY,
  gen BIGINT NOT NULL
);
CREATE INDEX tag_history_digest ON tag_history (digest);
CREATE INDEX workload_history_digest ON workload_history (digest);
CREATE INDEX workload_history_repo ON workload_history (repo);
INSERT INTO sla_dirty (repo, gen) SELECT repo, 1 FROM (SELECT repo FROM tag_history UNION SELECT repo FROM workload_history) AS r
