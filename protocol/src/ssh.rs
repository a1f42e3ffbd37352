//! Browser SSH, short-lived SSH certificates and session recordings.
//!
//! **Terminal WebSocket** `wss://{server}/gw/ssh/{app}?cols=C&rows=R[&principal=P]`: the
//! upgrade carries the browser Session cookie and must come from the server's own Origin.
//! Binary frames carry terminal bytes both ways (keystrokes up, PTY output down). Text frames
//! carry JSON control messages: [`TerminalInput`] from the browser and [`TerminalEvent`] from
//! the server. The server sends [`TerminalEvent::Connected`] once the shell is open and
//! [`TerminalEvent::Closed`] (with a [`close_code`]) right before it closes the socket. The
//! page acknowledges output it has processed with [`TerminalInput::Ack`]; the server stops
//! sending when [`OUTPUT_WINDOW`] bytes are unacknowledged.
//!
//! **Certificates** `POST /api/ssh/cert` with [`SshCertRequest`] (browser Session cookie or
//! CLI `Authorization: Bearer`) returns an [`SshCertificate`] valid for a few minutes, signed
//! by the server's SSH CA for one principal the caller may use on that App.

use serde::{Deserialize, Serialize};

use crate::api::AllowList;

/// The WebSocket path of the browser terminal for `app`.
pub fn terminal_path(app: &str) -> String {
    format!("/gw/ssh/{app}")
}

/// `GET` this for the principals the caller may log in as on `app` ([`SshLogin`]).
pub fn login_path(app: &str) -> String {
    format!("/api/apps/{app}/ssh")
}

/// `POST` an [`SshCertRequest`] here for an [`SshCertificate`].
pub const CERT_PATH: &str = "/api/ssh/cert";

/// The web page of the terminal for `app`.
pub fn terminal_page(app: &str) -> String {
    format!("/ssh/{app}")
}

/// The admin page that plays recording `id`.
pub fn recording_page(id: &str) -> String {
    format!("/admin/recordings/{id}")
}

/// `GET` the asciicast v2 file of recording `id` (admins only).
pub fn recording_cast_path(id: &str) -> String {
    format!("/api/admin/recordings/{id}/cast")
}

/// Output bytes the server sends before it waits for [`TerminalInput::Ack`].
pub const OUTPUT_WINDOW: u64 = 2 * 1024 * 1024;

/// The longest terminal side the gateway accepts, in cells.
pub const MAX_TERMINAL_CELLS: u16 = 1000;

/// The query string of the terminal WebSocket upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalParams {
    /// Columns, 1 to [`MAX_TERMINAL_CELLS`].
    pub cols: u16,
    /// Rows, 1 to [`MAX_TERMINAL_CELLS`].
    pub rows: u16,
    /// Which principal to log in as; required when [`SshLogin::principals`] has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// A control message from the browser (a WebSocket text frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TerminalInput {
    /// The terminal's size changed.
    Resize {
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// The page has processed (parsed into the terminal) this many more output bytes. The
    /// server keeps at most a couple of MiB unacknowledged in flight and pauses the origin
    /// beyond that, so a flood of output never piles up in the browser.
    Ack {
        /// Bytes processed since the previous acknowledgement.
        bytes: u64,
    },
}

/// A control message from the server (a WebSocket text frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TerminalEvent {
    /// The shell is open; binary frames follow.
    Connected {
        /// Who the user is logged in as on the origin.
        principal: String,
        /// The origin's host key, `SHA256:…`.
        host_key_fingerprint: String,
        /// Whether this connection pinned the host key (first use).
        pinned_now: bool,
        /// Whether the session is recorded.
        recorded: bool,
    },
    /// The session is over; the socket closes next.
    Closed {
        /// One of [`close_code`].
        code: String,
        /// For a person.
        reason: String,
    },
}

/// Why a terminal session closed ([`TerminalEvent::Closed::code`]).
pub mod close_code {
    /// The remote shell exited.
    pub const EXITED: &str = "exited";
    /// The user signed out, or the Session expired.
    pub const SIGNED_OUT: &str = "signed_out";
    /// An admin revoked the Session.
    pub const REVOKED: &str = "revoked";
    /// Policy refused (the reason says why).
    pub const ACCESS_DENIED: &str = "access_denied";
    /// The principal asked for is not one the user may use.
    pub const PRINCIPAL_NOT_ALLOWED: &str = "principal_not_allowed";
    /// Several principals are allowed and none was chosen.
    pub const PRINCIPAL_REQUIRED: &str = "principal_required";
    /// No App by that name, or it is not an SSH App.
    pub const UNKNOWN_APP: &str = "unknown_app";
    /// The App's Connector has no live link.
    pub const CONNECTOR_OFFLINE: &str = "connector_offline";
    /// The Connector could not or would not reach the origin.
    pub const ORIGIN_UNREACHABLE: &str = "origin_unreachable";
    /// The origin presented a host key other than the pinned one.
    pub const HOST_KEY_CHANGED: &str = "host_key_changed";
    /// The origin's sshd refused the certificate.
    pub const AUTH_FAILED: &str = "auth_failed";
    /// The SSH connection failed after it was established.
    pub const SSH_ERROR: &str = "ssh_error";
    /// The browser sent something the gateway does not accept.
    pub const BAD_INPUT: &str = "bad_input";
    /// The server is shutting down.
    pub const SHUTDOWN: &str = "shutdown";
}

/// `GET /api/apps/{app}/ssh`: how the caller may log in to an SSH App.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshLogin {
    /// The App.
    pub app: String,
    /// Principals the caller may use, in the App's order; the user picks when several.
    pub principals: Vec<String>,
    /// The pinned host key, `SHA256:…`, once the first connection pinned it.
    pub host_key_fingerprint: Option<String>,
}

/// `POST /api/ssh/cert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshCertRequest {
    /// The SSH App.
    pub app: String,
    /// The public key to certify, one OpenSSH line (`ssh-ed25519 AAAA… [comment]`).
    pub public_key: String,
    /// Which principal; required when the caller may use several.
    #[serde(default)]
    pub principal: Option<String>,
}

/// A short-lived user certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshCertificate {
    /// One OpenSSH line (`ssh-ed25519-cert-v01@openssh.com AAAA… postern`), for `-cert.pub`.
    pub certificate: String,
    /// The principal it is valid for.
    pub principal: String,
    /// Not valid before (RFC 3339; backdated a little for clock skew).
    pub valid_after: String,
    /// Not valid after (RFC 3339).
    pub valid_before: String,
    /// The CA's public key line, for `TrustedUserCAKeys` on the origin.
    pub ca_public_key: String,
}

/// How an SSH App picks the principals (remote usernames) a user may log in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrincipalSource {
    /// The local part of the user's email (`ada@example.com` → `ada`).
    EmailLocalPart,
    /// A claim from the identity provider's ID token: a string, or an array of strings.
    Claim {
        /// The claim's name, such as `preferred_username` or `unix_users`.
        claim: String,
    },
    /// A fixed list; each principal may narrow who may use it.
    List {
        /// In the order offered to the user.
        principals: Vec<PrincipalRule>,
    },
}

/// One principal of [`PrincipalSource::List`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalRule {
    /// The remote username.
    pub name: String,
    /// Who may use it; absent means everyone the App allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<AllowList>,
}

/// SSH settings of an App.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Where principals come from.
    pub principals: PrincipalSource,
    /// Whether recordings include what the user typed (off by default: it holds passwords).
    #[serde(default)]
    pub record_input: bool,
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            principals: PrincipalSource::EmailLocalPart,
            record_input: false,
        }
    }
}

/// A recorded session, as `GET /api/admin/recordings` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingSummary {
    /// Stable id.
    pub id: String,
    /// The App.
    pub app: String,
    /// Who (`user:NAME`).
    pub actor: String,
    /// The principal logged in as.
    pub principal: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339), or `None` while it runs.
    pub ended_at: Option<String>,
    /// Seconds from start to end (or to now while it runs).
    pub duration_seconds: f64,
    /// Size of the recording file in bytes.
    pub size_bytes: u64,
    /// Whether input was recorded too.
    pub input_recorded: bool,
    /// A terminal (asciicast v2) or a desktop (the RDP byte stream with timestamps).
    #[serde(default)]
    pub kind: RecordingKind,
}

/// What a recording holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingKind {
    /// A browser SSH terminal, as asciicast v2.
    #[default]
    Terminal,
    /// A browser RDP desktop: what the origin sent, with timestamps (no player yet).
    Desktop,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_tagged_json() {
        let resize: TerminalInput =
            serde_json::from_str(r#"{"type":"resize","cols":120,"rows":40}"#).unwrap();
        assert_eq!(
            resize,
            TerminalInput::Resize {
                cols: 120,
                rows: 40
            }
        );
        assert!(serde_json::from_str::<TerminalInput>(r#"{"type":"resize","cols":1}"#).is_err());
        assert!(serde_json::from_str::<TerminalInput>(r#"{"type":"exec"}"#).is_err());
        let closed = TerminalEvent::Closed {
            code: close_code::EXITED.to_owned(),
            reason: "the shell exited with status 0".to_owned(),
        };
        assert_eq!(
            serde_json::to_string(&closed).unwrap(),
            r#"{"type":"closed","code":"exited","reason":"the shell exited with status 0"}"#
        );
    }

    #[test]
    fn principal_sources_round_trip() {
        for json in [
            r#"{"source":"email_local_part"}"#,
            r#"{"source":"claim","claim":"unix_users"}"#,
            r#"{"source":"list","principals":[{"name":"deploy"},{"name":"root","allow":{"emails":[],"email_domains":[],"groups":["admins"]}}]}"#,
        ] {
            let source: PrincipalSource = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&source).unwrap(), json);
        }
        assert!(serde_json::from_str::<PrincipalSource>(r#"{"source":"anyone"}"#).is_err());
    }
}
