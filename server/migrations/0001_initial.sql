-- Users, Sessions, first-admin setup tokens and in-flight OIDC sign-in attempts.
-- Times are Unix seconds (UTC). Every secret is stored as its SHA-256, never in clear.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    -- 'local' or the id of an OIDC provider from the configuration.
    source          TEXT NOT NULL,
    -- The provider's `sub` for OIDC users; the username for local users.
    subject         TEXT NOT NULL,
    username        TEXT NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT,
    groups_json     TEXT NOT NULL DEFAULT '[]',
    role            TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    -- argon2id PHC string; NULL for OIDC users.
    password_hash   TEXT,
    created_at      INTEGER NOT NULL,
    last_sign_in_at INTEGER,
    UNIQUE (source, subject)
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    user_agent   TEXT,
    address      TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);

CREATE TABLE login_attempts (
    state_hash    TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    binding_hash  TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    expires_at    INTEGER NOT NULL
);
