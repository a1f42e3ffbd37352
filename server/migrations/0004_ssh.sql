-- Browser SSH: per-App SSH settings and the origin host key pinned on first use, the string
-- claims of each OIDC user's last ID token (SSH principals may come from a claim), and
-- session recordings (the files live in the data dir; rows describe them).

ALTER TABLE apps ADD COLUMN ssh_json TEXT;
ALTER TABLE apps ADD COLUMN host_key TEXT;

ALTER TABLE users ADD COLUMN claims_json TEXT NOT NULL DEFAULT '{}';

CREATE TABLE recordings (
    id             TEXT PRIMARY KEY,
    app_name       TEXT NOT NULL,
    actor          TEXT NOT NULL,
    principal      TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    input_recorded INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER,
    size_bytes     INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX recordings_started_at ON recordings (started_at);
