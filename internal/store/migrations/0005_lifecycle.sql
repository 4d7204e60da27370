-- Retention needs to know when a tag was last pulled.
ALTER TABLE tags ADD COLUMN pulled_at BIGINT NOT NULL DEFAULT 0
