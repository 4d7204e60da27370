-- The patch clock (bulwark report sla): when each finding's fix became
-- known (a finding recorded with no fix starts its clock when a rescan
-- first reports one), and which warnings and breaches have been
-- announced, so each is announced once.
ALTER TABLE finding_history ADD COLUMN fix_seen BIGINT NOT NULL DEFAULT 0;
UPDATE finding_history SET fix_seen = first_seen WHERE fixed <> '';
CREATE TABLE sla_notices (
  clock TEXT NOT NULL,
  kind TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (clock, kind)
)
