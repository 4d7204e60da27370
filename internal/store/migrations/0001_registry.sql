-- Registry metadata. Blobs live in the blob store, addressed by digest;
-- these tables say which repository holds which blob, manifest and tag.
-- Times are Unix milliseconds.
CREATE TABLE repo_blobs (
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX repo_blobs_digest ON repo_blobs (digest);
CREATE TABLE manifests (
  repo TEXT NOT NULL,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  content {{BYTES}} NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  artifact_type TEXT NOT NULL DEFAULT '',
  annotations TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  PRIMARY KEY (repo, digest)
);
CREATE INDEX manifests_subject ON manifests (repo, subject);
-- What each manifest references (blobs and child manifests), so garbage
-- collection knows what is still in use.
CREATE TABLE manifest_refs (
  repo TEXT NOT NULL,
  manifest TEXT NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (repo, manifest, ref)
);
CREATE INDEX manifest_refs_ref ON manifest_refs (ref);
CREATE TABLE tags (
  repo TEXT NOT NULL,
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (repo, name)
);
CREATE INDEX tags_digest ON tags (repo, digest);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY,
  repo TEXT NOT NULL,
  started_at BIGINT NOT NULL
)
