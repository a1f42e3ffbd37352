//! Browser RDP through the RDCleanPath gateway.
//!
//! **Ticket** `POST /api/apps/{app}/rdp/ticket` (browser Session cookie, same Origin) runs the
//! policy decision for the caller and the App and, when allowed, returns an [`RdpTicket`]: a
//! random single-use secret, valid for [`TICKET_LIFETIME_SECS`], bound to the user, the App and
//! the Session that asked for it. A refusal is an ordinary JSON API error whose message says why.
//!
//! **Gateway WebSocket** `wss://{server}/gw/rdp/{app}`: the upgrade carries the Session cookie
//! and must come from the server's own Origin. Binary frames form one byte stream in each
//! direction; frame boundaries mean nothing. The browser first sends an RDCleanPath request
//! PDU (DER, version 3390) whose `proxy_auth` is the ticket and whose `x224_connection_pdu` is
//! the RDP client's X.224 Connection Request; `destination` is only a label (the server dials
//! the App's own service URL through its connector and nothing else). The server answers
//! with an RDCleanPath response (the origin's X.224 Connection Confirm and its TLS certificate
//! chain, leaf first) and from then on relays the RDP bytes it decrypted from, and encrypts
//! to, the origin. On failure it sends one RDCleanPath error PDU and closes the socket with
//! close code 1008 (refused) or 1011 (origin failure) and a human reason.
//!
//! Error codes are the standard RDCleanPath ones (`1` general with an HTTP status, `2`
//! negotiation failure, `100` expired, `102` revoked, `103` unreachable, `105` TLS handshake
//! failed) and Postern's own in the implementation-specific range, listed in [`error_code`].

use serde::{Deserialize, Serialize};

/// The WebSocket path of the RDP gateway for `app`.
pub fn gateway_path(app: &str) -> String {
    format!("/gw/rdp/{app}")
}

/// `POST` here (no body) for an [`RdpTicket`].
pub fn ticket_path(app: &str) -> String {
    format!("/api/apps/{app}/rdp/ticket")
}

/// The web page of the remote desktop for `app`.
pub fn desktop_page(app: &str) -> String {
    format!("/rdp/{app}")
}

/// How long a ticket may wait before its WebSocket presents it.
pub const TICKET_LIFETIME_SECS: u64 = 30;

/// The largest RDCleanPath request the gateway reads; anything longer is refused unread.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The largest desktop side the web client asks for, in pixels (RDP's own limit is 8192).
pub const MAX_DESKTOP_SIDE: u16 = 8192;

/// A single-use credential for one gateway connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdpTicket {
    /// Goes in the RDCleanPath request's `proxy_auth`.
    pub ticket: String,
    /// Seconds left before it expires.
    pub expires_in_secs: u64,
    /// Where to open the WebSocket ([`gateway_path`]).
    pub gateway_path: String,
}

/// RDCleanPath error codes the gateway sends.
pub mod error_code {
    /// Something else went wrong; the HTTP status says more (400 malformed request, 401
    /// unknown or used ticket, 403 not allowed).
    pub const GENERAL: u16 = 1;
    /// The origin refused the security protocols the client offered; the X.224 field holds
    /// its Connection Confirm with the failure code.
    pub const NEGOTIATION: u16 = 2;
    /// The ticket has expired (HTTP status 401).
    pub const EXPIRED: u16 = 100;
    /// The ticket was already used or never existed (HTTP status 401).
    pub const REVOKED: u16 = 102;
    /// The connector could not reach the origin (WSA error 10061 refused, 10060 timed out).
    pub const TARGET_UNREACHABLE: u16 = 103;
    /// The TLS handshake with the origin failed (with the TLS alert when one arrived).
    pub const TLS_HANDSHAKE_FAILED: u16 = 105;
    /// The origin's TLS key is not the one pinned for the App; an admin must re-pin it.
    pub const HOST_KEY_CHANGED: u16 = 0x4001;
    /// No connector serving the App is online.
    pub const CONNECTOR_OFFLINE: u16 = 0x4002;
    /// The connector's local allow-list refused the App's destination.
    pub const ORIGIN_REFUSED: u16 = 0x4003;
    /// The Session behind the ticket ended, or the policy no longer allows the App (HTTP 403).
    pub const NOT_ALLOWED: u16 = 0x4004;
}

/// A sentence for a person, for an RDCleanPath error the gateway sent.
pub fn describe_error(code: u16, http_status: Option<u16>) -> &'static str {
    match (code, http_status) {
        (error_code::GENERAL, Some(400)) => "The gateway could not read the connection request.",
        (error_code::GENERAL, Some(401)) | (error_code::REVOKED, _) => {
            "The connection ticket was already used or is unknown. Try connecting again."
        }
        (error_code::GENERAL, Some(403)) | (error_code::NOT_ALLOWED, _) => {
            "You are not allowed to use this app."
        }
        (error_code::EXPIRED, _) => "The connection ticket expired. Try connecting again.",
        (error_code::NEGOTIATION, _) => {
            "The remote computer refused the security protocols this client offers."
        }
        (error_code::TARGET_UNREACHABLE, _) => {
            "The remote computer cannot be reached from its connector."
        }
        (error_code::TLS_HANDSHAKE_FAILED, _) => {
            "The TLS handshake with the remote computer failed."
        }
        (error_code::HOST_KEY_CHANGED, _) => {
            "The remote computer's key has changed since it was pinned. An admin must re-pin it."
        }
        (error_code::CONNECTOR_OFFLINE, _) => "The connector serving this app is offline.",
        (error_code::ORIGIN_REFUSED, _) => {
            "The connector's allow-list refuses this app's destination."
        }
        _ => "The gateway refused the connection.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(gateway_path("desk"), "/gw/rdp/desk");
        assert_eq!(ticket_path("desk"), "/api/apps/desk/rdp/ticket");
        assert_eq!(desktop_page("desk"), "/rdp/desk");
    }

    #[test]
    fn every_code_has_its_own_sentence() {
        let codes = [
            (error_code::GENERAL, Some(400)),
            (error_code::REVOKED, None),
            (error_code::NOT_ALLOWED, None),
            (error_code::EXPIRED, None),
            (error_code::NEGOTIATION, None),
            (error_code::TARGET_UNREACHABLE, None),
            (error_code::TLS_HANDSHAKE_FAILED, None),
            (error_code::HOST_KEY_CHANGED, None),
            (error_code::CONNECTOR_OFFLINE, None),
            (error_code::ORIGIN_REFUSED, None),
            (9, None),
        ];
        let sentences: std::collections::HashSet<_> =
            codes.iter().map(|(c, s)| describe_error(*c, *s)).collect();
        assert_eq!(sentences.len(), codes.len());
    }
}
