-- Who set a project's pull policy: scheduled work done under it (the
-- hourly retention) is audited with the name of whoever configured it.
ALTER TABLE projects ADD COLUMN policy_by TEXT NOT NULL DEFAULT ''
