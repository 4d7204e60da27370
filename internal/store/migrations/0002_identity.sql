-- Identity and access: users with hashed passwords, projects (the first
-- path segment of a repository) with members and roles, robot accounts
-- with scoped, expiring tokens (only a hash of each token is kept), and
-- server settings shared by replicas (the token-signing secret).
CREATE TABLE users (
  name TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  admin INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE projects (
  name TEXT PRIMARY KEY,
  public INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE members (
  project TEXT NOT NULL,
  username TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (project, username)
);
CREATE TABLE robots (
  name TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
)
