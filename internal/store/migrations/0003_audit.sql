-- The audit trail: an append-only, hash-chained log. Each record's hash
-- covers its content and the hash of the record before; checkpoints sign
-- (seq, hash) with a key kept outside the database, so an edit, removal,
-- insertion or reordering anywhere, and a truncation before the last
-- checkpoint, is found by `bulwark audit verify`.
CREATE TABLE audit (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at);
CREATE TABLE audit_checkpoints (
  seq BIGINT PRIMARY KEY,
  hash TEXT NOT NULL,
  at BIGINT NOT NULL,
  public_key TEXT NOT NULL,
  signature TEXT NOT NULL
);
-- The first retained record's predecessor after pruning: verification
-- starts from it (it must be a signed checkpoint).
CREATE TABLE audit_anchor (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
)
