-- Which digest each running container named over time (bulwark serve's
-- inventory.cluster job, from a cluster's pods): the patch clock stops
-- only when no tag and no running workload names a digest that carries
-- the finding.
CREATE TABLE workload_history (
  id {{SERIAL}},
  source TEXT NOT NULL,
  workload TEXT NOT NULL,
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  since BIGINT NOT NULL,
  until_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX workload_history_open ON workload_history (source, until_at)
