-- One-time codes that hand a CLI a Session after the user approved it in the browser.
-- The code is stored hashed and bound to the CLI's PKCE challenge; it lives two minutes.

CREATE TABLE cli_grants (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    challenge  TEXT NOT NULL,
    hostname   TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
