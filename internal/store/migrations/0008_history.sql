-- What the next capabilities read over time: the hygiene check results
-- and the file index of each scanned digest (drift detection), every
-- finding with when it was first and last seen and when it was resolved
-- (the patch-SLA clock, trends), and which digest each tag named when.
ALTER TABLE scans ADD COLUMN checks TEXT NOT NULL DEFAULT '';
CREATE TABLE scan_files (
  digest TEXT PRIMARY KEY,
  files {{BYTES}} NOT NULL
);
CREATE TABLE finding_history (
  digest TEXT NOT NULL,
  advisory TEXT NOT NULL,
  package TEXT NOT NULL,
  severity TEXT NOT NULL,
  fixed TEXT NOT NULL DEFAULT '',
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  resolved_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (digest, advisory, package)
);
CREATE INDEX finding_history_open ON finding_history (resolved_at, first_seen);
CREATE TABLE tag_history (
  id {{SERIAL}},
  repo TEXT NOT NULL,
  tag TEXT NOT NULL,
  digest TEXT NOT NULL,
  since BIGINT NOT NULL,
  until_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tag_history_tag ON tag_history (repo, tag, since)
