-- A scan says what it could judge: the image's OS (with its end of life),
-- per ecosystem whether the database held advisories, and its warnings.
ALTER TABLE scans ADD COLUMN os TEXT NOT NULL DEFAULT '';
ALTER TABLE scans ADD COLUMN coverage TEXT NOT NULL DEFAULT '';
ALTER TABLE scans ADD COLUMN warnings TEXT NOT NULL DEFAULT ''
