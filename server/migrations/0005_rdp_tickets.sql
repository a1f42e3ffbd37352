-- Browser RDP: single-use gateway tickets, minted after the policy decision and taken (deleted)
-- by the RDCleanPath gateway. Only the SHA-256 of the secret is stored.

CREATE TABLE rdp_tickets (
    ticket_hash TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE INDEX rdp_tickets_expires_at ON rdp_tickets (expires_at);
