-- Runtime alerts the watch agents send (bulwark watch --server): each
-- once, by the UUID the agent gave it, however often a spooled batch is
-- sent again.
CREATE TABLE runtime_events (
  uuid TEXT PRIMARY KEY,
  received BIGINT NOT NULL,
  at BIGINT NOT NULL,
  reporter TEXT NOT NULL,
  hostname TEXT NOT NULL,
  rule TEXT NOT NULL,
  priority TEXT NOT NULL,
  container_id TEXT NOT NULL,
  container_name TEXT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX runtime_events_at ON runtime_events (at);
CREATE INDEX runtime_events_container ON runtime_events (container_id, at)
