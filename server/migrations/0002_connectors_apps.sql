-- Connectors, Apps, Service tokens and the Audit log.
-- Secrets (connector tokens, service-token secrets) are stored as SHA-256 hex only.

CREATE TABLE connectors (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE apps (
    id                       TEXT PRIMARY KEY,
    name                     TEXT NOT NULL UNIQUE,
    kind                     TEXT NOT NULL CHECK (kind IN ('ssh', 'rdp', 'tcp')),
    connector_id             TEXT NOT NULL REFERENCES connectors (id),
    service_url              TEXT NOT NULL,
    session_duration_seconds INTEGER NOT NULL,
    allow_json               TEXT NOT NULL,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);

CREATE TABLE service_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE service_token_apps (
    token_id TEXT NOT NULL REFERENCES service_tokens (id) ON DELETE CASCADE,
    app_id   TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, app_id)
);

CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    app      TEXT,
    decision TEXT CHECK (decision IN ('allow', 'deny')),
    reason   TEXT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
